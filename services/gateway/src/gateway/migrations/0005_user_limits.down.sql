DROP TABLE gateway.admin_audit;
DROP TABLE gateway.caption_requests;
DROP TABLE gateway.open_streams;
DROP TABLE gateway.rate_windows;
