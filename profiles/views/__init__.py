"""The user pages. Every view has one shape: login required, a
permission-checked fetch (another user's id answers 404), validation, one
service call, then the page, or its named partial when htmx asked."""
