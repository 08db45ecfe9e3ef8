"""The long-context task generators: exact lengths, determinism, answers, disjoint vocabularies."""

import random
import re

import pytest

from titans.eval.babi import (
    SingleFact,
    ThreeArgumentRelations,
    ThreeFacts,
    TwoArgumentRelations,
    TwoFacts,
)
from titans.eval.catalog import make_tasks
from titans.eval.haystack import Haystack, insert_at_depths
from titans.eval.needles import MagicNumber, MagicWord, PassKey
from titans.eval.tasks import sample_seed
from titans.eval.vocabulary import KEYS, NAMES, OBJECTS, PLACES, VALUES, part_of

ALL = [PassKey, MagicNumber, MagicWord, SingleFact, TwoFacts, ThreeFacts, TwoArgumentRelations,
       ThreeArgumentRelations]


def build(cls, haystack, part="eval"):
    return cls(part=part) if cls is PassKey else cls(haystack, part)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
@pytest.mark.parametrize("length", [700, 4096])
def test_prompt_has_exactly_the_length_and_ends_with_the_question(cls, length, prose_haystack):
    task = build(cls, prose_haystack)
    for i in range(5):
        sample = task.sample(length, 0.3, sample_seed(i))
        assert len(sample.prompt) == length
        assert sample.prompt.rstrip().endswith((b"is", b"Answer:"))
        assert sample.answer and sample.answer.isascii() and "." not in sample.answer


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_the_same_seed_gives_the_same_sample_and_another_seed_another(cls, prose_haystack):
    task = build(cls, prose_haystack)
    a, b, c = (task.sample(1500, 0.5, seed) for seed in (7, 7, 8))
    assert a == b
    assert a.prompt != c.prompt


@pytest.mark.parametrize("cls", [PassKey, MagicNumber, MagicWord], ids=lambda c: c.name)
@pytest.mark.parametrize("depth", [0.0, 0.25, 0.5, 0.75, 1.0])
def test_the_needle_is_stated_once_at_its_depth(cls, depth, prose_haystack):
    task = build(cls, prose_haystack)
    for i in range(4):
        sample = task.sample(3000, depth, sample_seed("needle", i))
        text = sample.prompt.decode()
        needle = re.search(r"(The pass key is \d+\. Remember it\. \d+ is the pass key\.|"
                           r"One of the special magic (numbers|words) for \w+ is: \w+\.)", text)
        assert needle is not None and sample.answer in needle.group(0)
        assert text.count(needle.group(0)) == 1
        if cls is not MagicWord:  # a digit string occurs nowhere else; a word might, in real prose
            assert text.count(sample.answer) == needle.group(0).count(sample.answer)
        body = len(text) - len(text.rsplit("\n", 1)[1]) - 1  # the haystack, without the question
        # placed at the requested depth, moved back at most to the previous sentence boundary
        assert needle.start() <= depth * body + 1
        assert needle.start() >= depth * (body - len(needle.group(0))) - 450


def test_the_needle_never_cuts_a_sentence(prose_haystack):
    task = MagicNumber(prose_haystack, "eval")
    for i in range(10):
        text = task.sample(2000, 0.5, sample_seed("cut", i)).prompt.decode()
        at = text.index("One of the special magic numbers")
        assert at == 0 or text[at - 1] in " \n" and text[:at].rstrip()[-1] in ".\n"


def test_insert_at_depths_keeps_everything_in_order():
    hay = b"One. Two. Three. Four. Five. Six. Seven. Eight. "
    out, starts = insert_at_depths(hay, [b"[a] ", b"[b] "], [0.0, 1.0])
    assert out == b"[a] " + hay + b"[b] " and starts == [0, len(hay) + 4]
    out, starts = insert_at_depths(hay, [b"[a] ", b"[b] "], [0.5, 0.5])
    assert out[starts[0]:starts[0] + 8] == b"[a] [b] " and starts[1] == starts[0] + 4
    assert insert_at_depths(hay, [], []) == (hay, [])
    with pytest.raises(ValueError, match="sorted"):
        insert_at_depths(hay, [b"x", b"y"], [0.8, 0.2])


def test_a_length_too_short_for_the_facts_is_a_clear_error(prose_haystack):
    with pytest.raises(ValueError, match="at least"):
        PassKey().sample(40, 0.5, 0)


@pytest.mark.parametrize("cls", [SingleFact, TwoFacts, ThreeFacts, TwoArgumentRelations, ThreeArgumentRelations],
                         ids=lambda c: c.name)
def test_story_facts_keep_their_order_and_the_answer_is_an_eval_word(cls, prose_haystack):
    task = cls(prose_haystack, "eval")
    vocabulary = set(part_of(NAMES, "eval") + part_of(PLACES, "eval") + part_of(OBJECTS, "eval"))
    for i in range(20):
        seed = sample_seed("story", i)
        facts, _, answer = task.facts(random.Random(seed))
        sample = task.sample(2500, None, seed)
        assert [sample.prompt[a:b] for a, b in sample.fact_spans] == facts
        assert [a for a, _ in sample.fact_spans] == sorted(a for a, _ in sample.fact_spans)
        assert answer == sample.answer and answer in vocabulary


def test_qa1_answers_the_last_move_of_the_person():
    task = SingleFact(Haystack.filler(), "eval")
    for i in range(30):
        sample = task.sample(1200, None, sample_seed("qa1", i))
        text = sample.prompt.decode()
        person = re.search(r"Where is (\w+)\?", text).group(1)
        moves = re.findall(rf"{person} (?:went to|moved to|journeyed to|travelled to|went back to) the (\w+)\.", text)
        assert moves[-1] == sample.answer


def test_qa2_follows_the_object_to_its_carrier():
    task = TwoFacts(Haystack.filler(), "eval")
    for i in range(30):
        sample = task.sample(1500, None, sample_seed("qa2", i))
        text = sample.prompt.decode()
        thing = re.search(r"Where is the (\w+)\?", text).group(1)
        # replay the story independently of the generator
        at, holder, where = {}, None, None
        for person, verb, obj in re.findall(r"(\w+) (went to|moved to|journeyed to|travelled to|went back to|"
                                            r"picked up|got|grabbed|took|dropped|put down|left|discarded) "
                                            r"the (\w+)\.", text):
            if verb in ("picked up", "got", "grabbed", "took"):
                if obj == thing:
                    holder, where = person, at[person]
            elif verb in ("dropped", "put down", "left", "discarded"):
                if obj == thing:
                    holder = None
            else:
                at[person] = obj
                if holder == person:
                    where = obj
        assert where == sample.answer


def test_training_and_evaluation_vocabularies_are_disjoint():
    for words in (KEYS, VALUES, NAMES, PLACES, OBJECTS):
        assert len(set(words)) == len(words)
        train, evaluation = set(part_of(words, "train")), set(part_of(words, "eval"))
        assert train and evaluation and not train & evaluation
    with pytest.raises(ValueError, match="part"):
        part_of(KEYS, "test")


def test_training_samples_use_only_training_words(prose_haystack):
    eval_keys = set(part_of(KEYS, "eval"))
    task = MagicNumber(prose_haystack, "train")
    for i in range(30):
        key = re.search(r"number for (\w+)\?", task.sample(800, 0.5, i).prompt.decode()).group(1)
        assert key not in eval_keys


def test_training_magic_words_are_random_letters_and_evaluation_ones_listed(prose_haystack):
    listed = set(KEYS + VALUES + NAMES + PLACES + OBJECTS)
    train = [MagicWord(prose_haystack, "train").facts(random.Random(i))[2] for i in range(200)]
    assert not listed & set(train)
    assert len(set(train)) > 150  # drawn afresh, not picked from a short list
    assert all(w.isalpha() and w.islower() and 4 <= len(w) <= 9 for w in train)
    # letters drawn uniformly, not consonant-vowel syllables: a shape a model could answer with
    assert any(not all((c in "aeiou") == (i % 2 == 1) for i, c in enumerate(w)) for w in train)
    assert len(set("".join(train))) == 26
    evaluation = {MagicWord(prose_haystack, "eval").facts(random.Random(i))[2] for i in range(200)}
    assert evaluation <= set(part_of(VALUES, "eval"))


@pytest.mark.parametrize("cls", [SingleFact, TwoFacts, ThreeFacts, TwoArgumentRelations], ids=lambda c: c.name)
def test_training_stories_have_random_letter_places_and_evaluation_ones_listed_places(cls, prose_haystack):
    train = [cls(prose_haystack, "train").facts(random.Random(i))[2] for i in range(60)]
    assert not set(train) & set(PLACES)
    assert len(set(train)) > 40  # drawn afresh per story, not ten places over and over
    assert all(w.isalpha() and w.islower() and 4 <= len(w) <= 9 for w in train)
    assert len(set("".join(train))) > 20  # any letter, not the consonant-vowel words a model answered with
    evaluation = {cls(prose_haystack, "eval").facts(random.Random(i))[2] for i in range(60)}
    assert evaluation <= set(part_of(PLACES, "eval"))


def test_unknown_task_names_are_refused():
    with pytest.raises(ValueError, match="unknown task"):
        make_tasks(["pk", "qa9"], "eval")


def test_pass_keys_of_each_kind():
    from titans.eval.needles import pass_key

    draw = lambda kind: [pass_key(random.Random(i), kind) for i in range(200)]  # noqa: E731
    assert all(len(set(k)) == len(k) for k in draw("distinct"))
    assert all(len(set(k)) < len(k) for k in draw("repeated"))
    assert all(5 <= len(k) <= 7 and k[0] != "0" for kind in ("any", "distinct", "repeated") for k in draw(kind))
    # "any" draws exactly what the task always drew, so that every earlier evaluation sample reproduces
    rng = random.Random(3)
    digits = rng.randint(5, 7)
    assert pass_key(random.Random(3)) == str(rng.randrange(10 ** (digits - 1), 10**digits))
    sample = PassKey(keys="distinct").sample(300, 0.5, 1)
    assert len(set(sample.answer)) == len(sample.answer) and sample.answer in sample.prompt.decode()
    with pytest.raises(ValueError, match="pass keys are one of"):
        PassKey(keys="odd")
