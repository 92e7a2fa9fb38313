-- hpo-service 1dc6874 wrote this (schema 5): tests/store/test_sqlite_old_files.py
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
INSERT INTO "studies" VALUES('v','{}',1.79604903947656297687e+09,1.79604903947656297687e+09,NULL,NULL,9,16);
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
INSERT INTO "trials" VALUES(1,'v',0,'done','{"x":0}','{"x":0}','w','5aa86036f7d84fe0842c5d5089174495',1,NULL,1.79604903947690582271e+09,1.79604903947735929491e+09,1.79604903947779822345e+09,'{"loss":2.0,"status":"ok"}',NULL,3,'{"m":"a"}','{"status":"ok","loss":2.0}',0.0,2.0);
INSERT INTO "trials" VALUES(2,'v',1,'done','{"x":1}','{"x":1}','w','0a74c964b7cb42fca105d1e1b3a7d436',1,NULL,1.79604903947690582271e+09,1.79604903947905707355e+09,1.79604903947929930687e+09,'{"loss":0.5,"status":"ok","constraints":[1.0]}',NULL,5,'{"m":"b"}','{"status":"ok","loss":0.5,"constraints":[1.0]}',1.0,0.5);
INSERT INTO "trials" VALUES(3,'v',2,'done','{"x":2}','{"x":2}','w','f5ad9424fcee4c7baaa250d0152a95ec',1,NULL,1.79604903947690582271e+09,1.79604903947944498062e+09,1.7960490394796190262e+09,'{"loss":1.0,"status":"ok","output":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}',NULL,7,'{"m":"a"}','{"status":"ok","loss":1.0}',0.0,1.0);
INSERT INTO "trials" VALUES(4,'v',3,'done','{"x":3}','{"x":3}','w','8591fe5358994e2d9f518405bfbd8d23',1,NULL,1.79604903947690582271e+09,1.79604903947976398464e+09,1.79604903948411130905e+09,'{"status":"fail"}',NULL,9,NULL,'{"status":"fail"}',NULL,NULL);
INSERT INTO "trials" VALUES(5,'v',4,'done','{"x":4}','{"x":4}','w','ed757a0839ca4be0b742203f7c99f469',1,NULL,1.79604903947690582271e+09,1.79604903948430895798e+09,1.79604903948456645019e+09,'{"loss":0.75,"status":"ok"}',NULL,11,'{"m":"b"}','{"status":"ok","loss":0.75}',0.0,0.75);
INSERT INTO "trials" VALUES(6,'v',5,'pruned','{"x":5}','{"x":5}','w','357c344a62014bb7a5af7741867005c8',1,NULL,1.79604903947690582271e+09,1.79604903948473763461e+09,1.79604903948489570621e+09,'{"loss":0.1,"status":"pruned"}',NULL,13,'{"m":"a"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(7,'v',6,'error','{"x":6}','{"x":6}','w','4993c2a1de2a45c7b2effae398038446',1,NULL,1.79604903947690582271e+09,1.79604903948503303529e+09,1.79604903948546862609e+09,NULL,'{"traceback":null,"type":"E","message":"m"}',15,'{"m":"c"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(8,'v',7,'running','{"x":7}','{"x":7}','w','87ad3c3d2d2f422689795618966df80d',1,1.79605263948576211923e+09,1.79604903947690582271e+09,1.79604903948576211927e+09,NULL,NULL,NULL,16,NULL,NULL,NULL,NULL);
INSERT INTO "trials" VALUES(9,'v',8,'new','{"x":8}','{"x":8}',NULL,NULL,0,NULL,1.79604903947690582271e+09,NULL,NULL,NULL,NULL,1,NULL,NULL,NULL,NULL);
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
COMMIT;
PRAGMA user_version = 5;
