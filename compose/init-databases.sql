-- Run once by the postgres image on an empty data volume: one database per service.
CREATE DATABASE catalog;
CREATE DATABASE orders;
CREATE DATABASE auth;
CREATE DATABASE notifier;
