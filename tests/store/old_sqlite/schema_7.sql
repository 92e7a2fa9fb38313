-- hpo-service 0490b7e wrote this (schema 7): tests/store/test_sqlite_old_files.py
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
INSERT INTO "studies" VALUES('v','{}',1.79604904101703023904e+09,1.79604904101703023904e+09,NULL,NULL,9,16);
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
INSERT INTO "trials" VALUES(1,'v',0,'done','{"x":0}','{"x":0}','w','b743728e74ce453ab5a13d4a78116340',1,NULL,1.79604904101738595961e+09,1.79604904101785731312e+09,1.79604904101819038393e+09,'{"loss":2.0,"status":"ok"}',NULL,3,'{"m":"a"}','{"status":"ok","loss":2.0}',0.0,2.0);
INSERT INTO "trials" VALUES(2,'v',1,'done','{"x":1}','{"x":1}','w','aca63f67fdd34f3ab525854b22b51e9a',1,NULL,1.79604904101738595961e+09,1796049041.0184,1.79604904101855874058e+09,'{"loss":0.5,"status":"ok","constraints":[1.0]}',NULL,5,'{"m":"b"}','{"status":"ok","loss":0.5,"constraints":[1.0]}',1.0,0.5);
INSERT INTO "trials" VALUES(3,'v',2,'done','{"x":2}','{"x":2}','w','2ade564addae4d4a919d4523e4567314',1,NULL,1.79604904101738595961e+09,1.79604904101869368559e+09,1.79604904101885533328e+09,'{"loss":1.0,"status":"ok","output":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}',NULL,7,'{"m":"a"}','{"status":"ok","loss":1.0}',0.0,1.0);
INSERT INTO "trials" VALUES(4,'v',3,'done','{"x":3}','{"x":3}','w','efe19571e9ca490d900ab4da5eda5e9f',1,NULL,1.79604904101738595961e+09,1.79604904101901173595e+09,1.79604904101915550237e+09,'{"status":"fail"}',NULL,9,NULL,'{"status":"fail"}',NULL,NULL);
INSERT INTO "trials" VALUES(5,'v',4,'done','{"x":4}','{"x":4}','w','fb0b4b5d78de4908acc486f1aea1d860',1,NULL,1.79604904101738595961e+09,1.79604904101926755909e+09,1.79604904101938867566e+09,'{"loss":0.75,"status":"ok"}',NULL,11,'{"m":"b"}','{"status":"ok","loss":0.75}',0.0,0.75);
INSERT INTO "trials" VALUES(6,'v',5,'pruned','{"x":5}','{"x":5}','w','ebc92f6a576547999ecec3005ba95c7a',1,NULL,1.79604904101738595961e+09,1.79604904101951074598e+09,1.79604904101961684228e+09,'{"loss":0.1,"status":"pruned"}',NULL,13,'{"m":"a"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(7,'v',6,'error','{"x":6}','{"x":6}','w','870b5abfc26548ba9a3d6f353887c53a',1,NULL,1.79604904101738595961e+09,1.79604904101972436903e+09,1.7960490410322377682e+09,NULL,'{"traceback":null,"type":"E","message":"m"}',15,'{"m":"c"}',NULL,NULL,NULL);
INSERT INTO "trials" VALUES(8,'v',7,'running','{"x":7}','{"x":7}','w','27cbd17c1e4a4514b1b747c7dfb142cb',1,1.79605264103261685372e+09,1.79604904101738595961e+09,1.79604904103261685376e+09,NULL,NULL,NULL,16,NULL,NULL,NULL,NULL);
INSERT INTO "trials" VALUES(9,'v',8,'new','{"x":8}','{"x":8}',NULL,NULL,0,NULL,1.79604904101738595961e+09,NULL,NULL,NULL,NULL,1,NULL,NULL,NULL,NULL);
CREATE UNIQUE INDEX trials_study_tid ON trials (study, tid);
CREATE INDEX trials_queue ON trials (state) WHERE state = 'new';
CREATE INDEX trials_study_queue ON trials (study, tid)
    WHERE state = 'new';
CREATE INDEX trials_leases ON trials (lease_expires_at)
    WHERE state = 'running';
CREATE INDEX trials_changes ON trials (study, version);
CREATE INDEX trials_best ON trials (study, best_violation, best_loss, tid) WHERE best_loss IS NOT NULL;
CREATE INDEX trials_finished ON trials (study, state) WHERE state NOT IN ('new', 'running');
CREATE INDEX trials_light ON trials (study, tid, light) WHERE state = 'done';
CREATE INDEX trials_codes ON trials (study, code, tid) WHERE code IS NOT NULL;
CREATE INDEX trials_unranked ON trials (study, tid) WHERE state = 'done' AND light IS NULL;
COMMIT;
PRAGMA user_version = 7;
