"""The emulated network: namespaces joined by shaped links, and a run inside them."""
