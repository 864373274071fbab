"""The owners' web pages (issue 17): server-rendered, served by ``fundledger serve`` at /web."""
