DROP TABLE IF EXISTS gateway.stream_tickets;
