"""Browser tests: Debian's Chromium driven by Playwright, with axe-core accessibility checks on every page."""
