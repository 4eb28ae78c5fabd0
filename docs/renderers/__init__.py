"""The renderers of the placeholders on the site's pages (docs/hooks.py), a module a subject."""
