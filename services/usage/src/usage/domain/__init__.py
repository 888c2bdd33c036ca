"""The usage service's rules, free of transport and storage."""
