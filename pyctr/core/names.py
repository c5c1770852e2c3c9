"""Random container names, Docker style: ``adjective_scientist``."""

from __future__ import annotations

import random

LEFT = ("admiring", "brave", "clever", "dazzling", "eager", "focused", "gallant", "happy", "jolly",
        "keen", "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene",
        "tender", "upbeat", "vibrant", "wizardly", "xenial", "youthful", "zealous")
RIGHT = ("babbage", "curie", "dijkstra", "euler", "feynman", "gauss", "hopper", "hypatia", "knuth",
         "lamarr", "lovelace", "meitner", "noether", "pasteur", "ramanujan", "shannon", "thompson",
         "torvalds", "turing", "wozniak")


def random_name() -> str:
    return f"{random.choice(LEFT)}_{random.choice(RIGHT)}"
