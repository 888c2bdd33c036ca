DROP TABLE IF EXISTS poller.tasks;
