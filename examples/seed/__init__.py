"""The seed page's StatelessServer examples, as written there (only indentation restored)."""
