"""Data the platforms send and the data the engine pulls from them.

Verified webhooks (Google Ads lead forms, Meta lead ads, Eventbrite), the fetches their
notifications need, and incremental pulls with a cursor. Everything ends as a raw file of
an existing source format in the raw bucket, so splitting and all that follows is unchanged.
"""
