"""The poller's rules, free of brokers, web frameworks and SQL."""
