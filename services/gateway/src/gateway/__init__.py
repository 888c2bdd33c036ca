"""The gateway: AI Studio's only public entry point."""
