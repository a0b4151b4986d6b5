"""What every web request shares: the app state, request handling, health and outage pages."""
