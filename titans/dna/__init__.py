"""DNA sequence classification: labelled data sets (:mod:`titans.dna.labelled`)."""

from .classifier import ConvClassifier, SequenceClassifier
from .classify import ClassifyConfig, train_classifier
from .context import bits_by_context
from .labelled import (
    LabelledSequences,
    decode_indicator_bits,
    junction_consensus,
    promoters,
    read_genomic_benchmark,
    splice_junctions,
)

__all__ = ["ClassifyConfig", "ConvClassifier", "LabelledSequences", "SequenceClassifier", "bits_by_context",
           "train_classifier", "decode_indicator_bits", "junction_consensus", "promoters",
           "read_genomic_benchmark", "splice_junctions"]
