"""The words the long-context tasks are made of, split so that training and evaluation never share one.

Every list is split by position: even entries belong to ``"train"``, odd ones to ``"eval"``. A model
trained on the task mixture has therefore never seen the keys, values, names, places or objects that
its evaluation asks about, nor the haystack texts (see :mod:`titans.eval.haystack`): what it recalls it
must have read in the context. The answers of training samples that are words are drawn afresh instead:
W's values and the stories' places and objects are strings of random letters (:func:`random_letters`).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

PARTS = ("train", "eval")

# keys of the "special magic number / word for <key>" needles (S-NIAH N and W)
KEYS = """
amber anchor arrow autumn badger bamboo banner barley beacon birch blossom bronze cactus canyon cedar
chalk cherry cobalt comet copper coral cotton crystal cypress dagger dawn delta desert diamond dolphin
dragon eagle ember falcon feather fern flint forest fossil garnet geyser ginger glacier granite harbor
hazel heron hollow horizon iris ivory jasmine jungle kettle lagoon lantern lava lemon lily linen lotus
magnet maple marble meadow meteor mirror moss nectar nickel oasis olive onyx orchid otter paper pebble
pepper pine planet plum prism quartz quill rabbit raven reef ribbon river saddle saffron salmon sapphire
shadow silver sparrow spruce summit thistle thunder tiger timber topaz tulip tundra velvet violet walnut
willow winter zephyr
""".split()

# values of the W needles (a word to recall)
VALUES = """
abacus acorn almond apricot atlas ballad basket beetle biscuit bonnet bramble buckle butter cabin candle
carpet cavern chariot chimney cider citadel clover cobble compass cradle crumpet cupola dinghy domino
easel elbow emblem fable fiddle flagon fountain galleon gazebo goblet gondola granary griddle hammock
harness helmet hermit hinge igloo inkwell jackal jester jigsaw kayak kernel kiosk ladle lattice ledger
locket lozenge mallet mantel marmot mitten mortar muffin napkin nomad nutmeg oboe omelet orbit paddle
parcel pelican pewter pigeon pillow pistachio pretzel puddle pumpkin quiver radish rafter rattle
rhubarb riddle rocket rudder satchel scarf sextant skillet sleigh spindle spoon stencil sundial
tadpole teapot thimble tiara toffee trellis trumpet turnip umbrella vessel walrus wagon whistle
""".split()

# people, places and objects of the bAbI-style stories
NAMES = """
Mary John Sandra Daniel Julie Fred Bill Emma Oliver Grace Henry Alice Lucas Clara Peter Nora Victor
Irene Hugo Lena Oscar Ruth Simon Tessa Walter Yara Arthur Bella Felix Hazel George Ivy Martin Olga
Robert Paula Samuel Wendy Thomas Ursula
""".split()

PLACES = """
kitchen garden hallway bathroom bedroom office cellar attic library garage balcony pantry studio
chapel stable orchard porch workshop greenhouse nursery
""".split()

OBJECTS = """
apple football milk key book lamp bottle candle ticket wallet hammer basket violin helmet blanket
camera ladder mirror pencil scarf teapot umbrella drum kite
""".split()


_LISTED = frozenset(KEYS + VALUES + NAMES + PLACES + OBJECTS)


def _unlisted(draw: Callable[[], str]) -> str:
    """The first word ``draw()`` gives that no list here holds (a training answer is never a listed word)."""
    while True:
        word = draw()
        if word not in _LISTED:
            return word


def random_letters(rng: random.Random) -> str:
    """4-9 lowercase letters, each drawn uniformly: a training value of the W needle, place or object of
    a story. Made-up consonant-vowel words were tried first: their shape was itself learned as the answer
    (the mixture model answered " nufu." whatever the needle said, a qa1 stage " rora." whatever the
    story said: experiments/long_context/README.md); letters without a shape can only be copied."""
    return _unlisted(lambda: "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9))))


def random_words(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct :func:`random_letters` words: a story's places or objects in training."""
    words: list[str] = []
    while len(words) < count:
        word = random_letters(rng)
        if word not in words:
            words.append(word)
    return words


def part_of(words: list[str], part: str) -> list[str]:
    """The share of ``words`` that belongs to ``part`` ("train": even positions, "eval": odd ones)."""
    if part not in PARTS:
        raise ValueError(f"unknown vocabulary part {part!r}; use one of {', '.join(PARTS)}")
    return words[PARTS.index(part)::2]
