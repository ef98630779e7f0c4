"""The composition layer: routes that put several domains side by side (the ads slot beside
nearby places and timelines; erasure across every domain). Domains never import it."""
