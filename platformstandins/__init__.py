"""Local stand-ins of the platforms' APIs (Meta's Graph API, Eventbrite's API v3, Amazon's
Selling Partner API with Login with Amazon), speaking their documented requests and
answers, with scriptable faults. Never shipped: the local stack and the tests start them."""
