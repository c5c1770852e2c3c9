"""Random container names, Docker style: ``adjective_scientist``."""

from __future__ import annotations

import os

LEFT = ("admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene",
        "tender", "upbeat", "vibrant", "wizardly", "xenial", "youthful", "zealous")
RIGHT = ("babbage", "curie", "dijkstra", "euler", "feynman", "gauss", "hopper", "hypatia", "knuth",
         "lamarr", "lovelace", "meitner", "noether", "pasteur", "ramanujan", "shannon", "thompson",
         "torvalds", "turing", "wozniak")


def random_name() -> str:
    # os.urandom, not the random module: its import (hashlib, bisect) costs more than a name
    a, b = os.urandom(2)
    return f"{LEFT[a % len(LEFT)]}_{RIGHT[b % len(RIGHT)]}"
