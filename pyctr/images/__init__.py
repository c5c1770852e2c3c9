"""Images: references, the registry client and credentials, the content and image stores, pull/push, save/load/import, progress."""
