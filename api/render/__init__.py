"""Rendering for people and programs outside (CSV, HTML pages): the edge's job, not the
read side's. The read side hands over plain figures; these modules only lay them out."""
