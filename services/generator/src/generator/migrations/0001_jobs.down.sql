DROP TABLE IF EXISTS generator.kie_submissions;
DROP TABLE IF EXISTS generator.jobs;
