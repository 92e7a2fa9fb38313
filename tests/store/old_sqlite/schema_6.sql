-- hpo-service dc17f4b wrote this (schema 6): tests/store/test_sqlite_old_files.py
BEGIN TRANSACTION;
CREATE TABLE attachments (
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    name TEXT NOT NULL,
    token TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, tid, name)
);
CREATE TABLE intermediate (
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    token TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (study, tid)
) WITHOUT ROWID;
CREATE TABLE studies (
    name TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    driver_owner TEXT,
    driver_lease_expires_at REAL,
    next_tid INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "studies" VALUES('v','{}',1.79604904020446562765e+09,1.79604904020446562765e+09,NULL,NULL,9,16);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    tid INTEGER NOT NULL,
    state TEXT NOT NULL,
    params TEXT NOT NULL,
    config TEXT NOT NULL,
    owner TEXT,
    token TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    result TEXT,
    error TEXT,
    version INTEGER NOT NULL
, code TEXT, light TEXT, best_violation REAL, best_loss REAL);
INSERT INTO "trials" VALUES(1,'v',0,'done','{"x":0}','{"x":0}','w','63fad98544b647bf8058069a77e91ba2',1,NULL,1.79604904020483660694e+09,1.79604904020528936383e+09,1.79604904020565128326e+09,'{"loss":2.0,"status":"ok"}',NULL,3,'{"m":"a"}','{"status":"ok","loss":2.0}',0.0,2.0);
INSERT INTO "trials" VALUES(2,'v',1,'done','{"x":1}','{"x":1}','w','14d50c437a0b414296502d5b39a24dee',1,NULL,1.79604904020483660694e+09,1.79604904020586538318e+09,1.79604904020728898053e+09,'{"loss":0.5,"status":"ok","constraints":[1.0]}',NULL,5,'{"m":"b"}','{"status":"ok","loss":0.5,"constraints":[1.0]}',1.0,0.5);
INSERT INTO "trials" VALUES(3,'v',2,'done','{"x":2}','{"x":2}','w','197927d2e0c84df9ac319dbbaffd5407',1,NULL,1.79604904020483660694e+09,1.79604904020746731756e+09,1.79604904020773291587e+09,'{"loss":1.0,"status":"ok","output":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}',NULL,7,'{"m":"a"}','{"status":"ok","loss":1.0}',0.0,1.0);
INSERT INTO "trials" VALUES(4,'v',3,'done','{"x":3}','{"x":3}','w','ef9a5fe181714b6895b87b40239f1e95',1,NULL,1.79604904020483660694e+09,1.79604904021251654622e+09,1.79604904021271824833e+09,'{"status":"fail"}',NULL,9,NULL,'{"status":"fail"}',NULL,NULL);
INSERT INTO "trials" VALUES(5,'v',4,'done','{"x":4}','{"x":4}','w','e276b04ab9f94ab59051aa3086912e82',1,NULL,1.79604904020483660694e+09,1.79604904021284270286e+09,1.79604904021299505234e+09,'{"loss":0.75,"status":"ok"}',NULL,11,'{"m":"b"}','{"status":"ok","loss":0.75}',0.0,0.75);
INSERT INTO "trials" VALUES(6,'v',5,'pruned','{"x":5}','{"x":5}','w','5c890e5f5a83420ea95555109a201959',1,NULL,1.79604904020483660694e+09,1.79604904021312594417e+09,1.79604904021326947215e+09,'{"loss":0.1,"status":"pruned"}',NULL,13,'{"m":"a"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(7,'v',6,'error','{"x":6}','{"x":6}','w','c182b74d22994c4290f8522c83938949',1,NULL,1.79604904020483660694e+09,1796049040.21339,1.79604904021364355083e+09,NULL,'{"traceback":null,"type":"E","message":"m"}',15,'{"m":"c"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(8,'v',7,'running','{"x":7}','{"x":7}','w','55cc1c9cc1334b42a97123f7a7bf01c0',1,1.79605264021386384961e+09,1.79604904020483660694e+09,1.79604904021386384965e+09,NULL,NULL,NULL,16,NULL,NULL,NULL,NULL);
INSERT INTO "trials" VALUES(9,'v',8,'new','{"x":8}','{"x":8}',NULL,NULL,0,NULL,1.79604904020483660694e+09,NULL,NULL,NULL,NULL,1,NULL,NULL,NULL,NULL);
CREATE UNIQUE INDEX trials_study_tid ON trials (study, tid);
CREATE INDEX trials_queue ON trials (state) WHERE state = 'new';
CREATE INDEX trials_study_queue ON trials (study, tid)
    WHERE state = 'new';
CREATE INDEX trials_leases ON trials (lease_expires_at)
    WHERE state = 'running';
CREATE INDEX trials_changes ON trials (study, version);
CREATE INDEX trials_best ON trials (study, best_violation, best_loss, tid) WHERE best_loss IS NOT NULL;
CREATE INDEX trials_states ON trials (study, state);
CREATE INDEX trials_light ON trials (study, tid, light) WHERE state = 'done';
CREATE INDEX trials_codes ON trials (study, code, tid) WHERE code IS NOT NULL;
CREATE INDEX trials_unranked ON trials (study, tid) WHERE state = 'done' AND light IS NULL;
COMMIT;
PRAGMA user_version = 6;
