"""BABILong-style reasoning: bAbI tasks qa1-qa5 generated from templates, their facts scattered in prose.

bAbI itself cannot be fetched here (``../shared/DATA.md``), so the stories are simulated: people move
between places, pick up, drop and hand over objects, and the question needs one, two or three of those
facts (qa1-qa3) or a two- or three-argument relation (qa4, qa5). The facts keep their order and are
spread at random positions through a stretch of real prose, as BABILong does; the answer is one word.
Names, places and objects come from :mod:`titans.eval.vocabulary` (training and evaluation disjoint);
in training, places and objects are random letters drawn afresh for every story, so that an answer can
only be read from the story (from the training lists' ten places a model learns to answer one of them).
"""

from __future__ import annotations

from .tasks import Task
from .vocabulary import NAMES, OBJECTS, PLACES, random_words, part_of

MOVES = ("went to", "moved to", "journeyed to", "travelled to", "went back to")
_TAKES = ("picked up", "got", "grabbed", "took")
_DROPS = ("dropped", "put down", "left", "discarded")


def as_fact(text: str) -> bytes:
    """A story sentence as it stands in the prose (also the wording of induction_probe.py --task where)."""
    return f"{text}. ".encode()


def as_question(text: str) -> bytes:
    return f"\n{text} Answer:".encode()


class _Story(Task):
    needs_depth = False

    def __init__(self, haystack, part: str):
        super().__init__(haystack, part)
        self.names, self.places, self.objects = (part_of(w, part) for w in (NAMES, PLACES, OBJECTS))

    def things(self, rng) -> tuple[list[str], list[str]]:
        """The places and objects of one story: the part's lists, or in training as many random-letter words."""
        if self.part != "train":
            return self.places, self.objects
        return random_words(rng, len(self.places)), random_words(rng, len(self.objects))


class SingleFact(_Story):
    """qa1: where is a person? The last move of that person answers it."""

    name = "qa1"

    def facts(self, rng):
        people, (places, _) = rng.sample(self.names, 2), self.things(rng)
        where, facts = {}, []
        for _ in range(rng.randint(3, 6)):
            person, place = rng.choice(people), rng.choice(places)
            where[person] = place
            facts.append(as_fact(f"{person} {rng.choice(MOVES)} the {place}"))
        person = rng.choice(sorted(where))
        return facts, as_question(f"Where is {person}?"), where[person]


class _Carrying(_Story):
    """People move and carry objects; an object's places over time are recorded (qa2, qa3)."""

    def simulate(self, rng, events: int):
        people, (places, objects) = rng.sample(self.names, 2), self.things(rng)
        objects = rng.sample(objects, 2)
        at = {p: rng.choice(places) for p in people}
        facts = [as_fact(f"{p} {rng.choice(MOVES)} the {at[p]}") for p in people]
        holder: dict[str, str | None] = {o: None for o in objects}
        history: dict[str, list[str]] = {o: [] for o in objects}
        for _ in range(events):
            person = rng.choice(people)
            held = [o for o in objects if holder[o] == person]
            free = [o for o in objects if holder[o] is None]
            action = rng.random()
            if action < 0.4 and free:
                thing = rng.choice(free)
                holder[thing] = person
                facts.append(as_fact(f"{person} {rng.choice(_TAKES)} the {thing}"))
                _visit(history[thing], at[person])
            elif action < 0.55 and held:
                thing = rng.choice(held)
                holder[thing] = None
                facts.append(as_fact(f"{person} {rng.choice(_DROPS)} the {thing}"))
            else:
                at[person] = rng.choice([p for p in places if p != at[person]])
                facts.append(as_fact(f"{person} {rng.choice(MOVES)} the {at[person]}"))
                for thing in held:
                    _visit(history[thing], at[person])
        return facts, history


def _visit(history: list[str], place: str) -> None:
    if not history or history[-1] != place:
        history.append(place)


class TwoFacts(_Carrying):
    """qa2: where is an object? Who carried it there, and where that person went."""

    name = "qa2"

    def facts(self, rng):
        while True:
            facts, history = self.simulate(rng, rng.randint(4, 7))
            known = sorted(o for o in history if history[o])
            if known:
                thing = rng.choice(known)
                return facts, as_question(f"Where is the {thing}?"), history[thing][-1]


class ThreeFacts(_Carrying):
    """qa3: where was an object before its last place? Needs the pick-up and two moves."""

    name = "qa3"

    def facts(self, rng):
        while True:
            facts, history = self.simulate(rng, rng.randint(6, 9))
            # the last place must occur once in the history, or "before" would be ambiguous
            asked = sorted(o for o, h in history.items() if len(h) >= 2 and h.count(h[-1]) == 1)
            if asked:
                thing = rng.choice(asked)
                places = history[thing]
                return facts, as_question(f"Where was the {thing} before the {places[-1]}?"), places[-2]


_OPPOSITE = {"north": "south", "south": "north", "east": "west", "west": "east"}


class TwoArgumentRelations(_Story):
    """qa4: two facts "A is north of B"; a question about one of them, asked either way round."""

    name = "qa4"

    def facts(self, rng):
        a, b, c = rng.sample(self.things(rng)[0], 3)
        first, second = rng.choice(list(_OPPOSITE)), rng.choice(list(_OPPOSITE))
        facts = [as_fact(f"The {a} is {first} of the {b}"), as_fact(f"The {c} is {second} of the {a}")]
        near, relation, far = rng.choice([(a, first, b), (c, second, a)])
        if rng.random() < 0.5:
            return facts, as_question(f"What is {relation} of the {far}?"), near
        return facts, as_question(f"What is the {far} {_OPPOSITE[relation]} of?"), near


class ThreeArgumentRelations(_Story):
    """qa5: "X gave the O to Y"; who gave, what was given, or who received."""

    name = "qa5"

    def facts(self, rng):
        gifts, pairs = [], set()
        for thing in rng.sample(self.things(rng)[1], 3):
            giver, receiver = rng.sample(self.names, 2)
            while (giver, receiver) in pairs:  # one gift per pair, or "what did X give to Y" is ambiguous
                giver, receiver = rng.sample(self.names, 2)
            pairs.add((giver, receiver))
            gifts.append((giver, thing, receiver))
        facts = [as_fact(f"{g} gave the {o} to {r}") for g, o, r in gifts]
        giver, thing, receiver = rng.choice(gifts)
        form = rng.randrange(3)
        if form == 0:
            return facts, as_question(f"Who gave the {thing} to {receiver}?"), giver
        if form == 1:
            return facts, as_question(f"Who received the {thing}?"), receiver
        return facts, as_question(f"What did {giver} give to {receiver}?"), thing
