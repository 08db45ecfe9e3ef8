"""``TitansForCausalLM``: a transformers ``PreTrainedModel`` + ``GenerationMixin`` around
:class:`titans.models.TitansLM` (the model code is TitansLM's; this is the adapter)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from ..models import TitansLM
from .cache import TitansCache
from .configuration import TitansHFConfig
from .remote_code import write_remote_code


@dataclass
class TitansCausalLMOutput(ModelOutput):
    """Loss (with labels), logits ``[B, T, vocab]``, and the cache after the tokens read. The cache is
    under both names transformers 5 has used for it (``cache`` from 5.2x, ``past_key_values`` before)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: TitansCache | None = None
    past_key_values: TitansCache | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class TitansPreTrainedModel(PreTrainedModel):
    config_class = TitansHFConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_cache_class = True

    def _init_weights(self, module):
        """TitansLM initialises its own weights (and from_pretrained loads every one of them)."""


class TitansForCausalLM(TitansPreTrainedModel, GenerationMixin):
    """``AutoModelForCausalLM`` for a Titans model (any variant, or a baseline): ``model.generate`` reads
    the prompt once and each new token once, the state carried in a :class:`TitansCache`."""

    def __init__(self, config: TitansHFConfig):
        super().__init__(config)
        self.model = TitansLM(config.to_titans())
        self.post_init()

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        model = super().from_pretrained(*args, **kwargs)
        # fresh (aligned) copies of the weights: transformers leaves them in views of the file's buffer at odd
        # offsets, where a kernel can round differently, and a loaded model must compute what the saved one did
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.data = parameter.data.clone()
        return model

    def save_pretrained(self, save_directory, *args, **kwargs):
        """transformers' save, plus the modules that config.json's ``auto_map`` names (``remote_code``)."""
        super().save_pretrained(save_directory, *args, **kwargs)
        write_remote_code(save_directory, "configuration_titans.py", "modeling_titans.py")

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False  # the model makes its own TitansCache on the first call

    def get_input_embeddings(self):
        return self.model.embed

    def set_input_embeddings(self, value):
        self.model.embed = value

    def get_output_embeddings(self):
        return None  # TitansLM ties or owns its head; transformers must not re-tie it

    @property
    def titans(self) -> TitansLM:
        """The TitansLM inside (``titans.generate``, ``save_state`` and the rest work on it)."""
        return self.model

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: TitansCache | None = None,
        past_key_values: TitansCache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ):
        """``input_ids`` ``[B, T]``: the tokens not yet read by ``cache``; ``attention_mask`` ``[B, >= T]``
        (0 for padding; its last T columns belong to ``input_ids``); ``labels`` as ``input_ids`` (shifted
        inside, -100 ignored). A padded batch of a memory variant is read row by row without its padding,
        so each row's logits (zeros at the padding) and generation are those of the row alone; attention-only
        models read it in one batch, the padding masked (equal to the row alone up to rounding)."""
        if inputs_embeds is not None:
            raise ValueError("TitansForCausalLM reads token ids only (inputs_embeds is not supported)")
        if input_ids is None:
            raise ValueError("input_ids is required")
        cache = cache if cache is not None else past_key_values
        if cache is not None and not isinstance(cache, TitansCache):
            if isinstance(cache, torch.nn.Module) or cache.get_seq_length() > 0:
                raise TypeError(f"TitansForCausalLM carries its state in a TitansCache, got {type(cache).__name__}")
            cache = None  # an empty foreign cache (e.g. a DynamicCache made by the caller): start fresh
        use_cache = self.config.use_cache if use_cache is None else use_cache
        if use_cache and cache is None:
            cache = TitansCache()
        mask = None
        if attention_mask is not None:
            mask = attention_mask[:, -input_ids.shape[1]:].bool()
            if bool(mask.all()):
                mask = None  # as titans.generate: an all-true mask is no mask
        state = cache.state if cache is not None else None
        rows = cache.rows if cache is not None else None
        if rows is None and state is None and mask is not None and self.model.config.uses_memory:
            # a padded batch, fresh: the memory's chunks (and MAC's segments) are aligned to positions, which
            # padding would shift, so each row is read alone, without its padding: exactly as if unpadded
            rows = [None] * input_ids.shape[0]
        if rows is not None:
            logits, hidden, rows = self._read_rows(input_ids, rows, mask, output_hidden_states)
            new_state = None
        else:
            logits, hidden, new_state = self._read(input_ids, state, mask, output_hidden_states)
        if cache is not None:
            cache.state, cache.rows = new_state, rows
            if rows is not None:
                cache.row_columns += input_ids.shape[1]
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                   labels[:, 1:].reshape(-1), ignore_index=-100)
        output = TitansCausalLMOutput(loss=loss, logits=logits, cache=cache if use_cache else None,
                                      past_key_values=cache if use_cache else None,
                                      hidden_states=None if hidden is None else (hidden,))
        if return_dict is False:
            return output.to_tuple()
        return output

    def _read(self, input_ids, state, mask, output_hidden_states):
        """TitansLM reads ``input_ids`` after ``state``: logits, the hidden states (or None), the new state."""
        if not output_hidden_states:
            logits, new_state = self.model(input_ids, state, mask=mask)
            return logits, None, new_state
        hidden, new_state = self.model.features(input_ids, state, mask=mask)
        logits = hidden @ self.model.embed.weight.mT if self.model.head is None else self.model.head(hidden)
        return logits, hidden, new_state

    def _read_rows(self, input_ids, rows, mask, output_hidden_states):
        """Each row read alone after its own state, its masked columns dropped; the outputs are put back at
        the columns read (zeros at the padding). Returns logits, hidden states (or None), the rows' states."""
        keep = torch.ones_like(input_ids, dtype=torch.bool) if mask is None else mask
        logits = hidden = None
        new_rows = []
        for b, state in enumerate(rows):
            ids = input_ids[b, keep[b]][None]
            if ids.shape[1] == 0:  # nothing of this row in these columns: its state unchanged
                new_rows.append(state)
                continue
            row_logits, row_hidden, state = self._read(ids, state, None, output_hidden_states)
            new_rows.append(state)
            if logits is None:
                logits = row_logits.new_zeros(*input_ids.shape, row_logits.shape[-1])
                hidden = None if row_hidden is None else row_hidden.new_zeros(*input_ids.shape, row_hidden.shape[-1])
            logits[b, keep[b]] = row_logits[0]
            if hidden is not None:
                hidden[b, keep[b]] = row_hidden[0]
        if logits is None:
            raise ValueError("attention_mask masks every token: there is nothing to read")
        return logits, hidden, new_rows

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        next_sequence_length: int | None = None,
        cache: TitansCache | None = None,
        past_key_values: TitansCache | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        is_first_iteration: bool | None = False,
        use_cache: bool | None = None,
        **kwargs,
    ):
        """Only the tokens the cache has not read go to the model (generate says how many)."""
        if inputs_embeds is not None:
            raise ValueError("TitansForCausalLM.generate reads token ids only (inputs_embeds is not supported)")
        cache = cache if cache is not None else past_key_values
        if next_sequence_length is not None:
            input_ids = input_ids[:, -next_sequence_length:]
        elif cache is not None and 0 < cache.get_seq_length() < input_ids.shape[1]:
            # a cache generate did not measure (passed under the other name than this transformers uses):
            # the ids are the whole conversation, of which the cache has read the first tokens
            input_ids = input_ids[:, cache.get_seq_length():]
        inputs = {"input_ids": input_ids.clone(memory_format=torch.contiguous_format),
                  "attention_mask": attention_mask, "cache": cache}
        if use_cache is not None:
            inputs["use_cache"] = use_cache
        return inputs


def from_titans(model: TitansLM) -> TitansForCausalLM:
    """A TitansForCausalLM with ``model``'s configuration, weights and dtype (a copy of the weights)."""
    parameter = next(model.parameters())
    hf = TitansForCausalLM(TitansHFConfig.from_titans(model.config)).to(device=parameter.device,
                                                                         dtype=parameter.dtype)
    hf.model.load_state_dict(model.state_dict())  # after the cast: copied at the model's precision
    return hf.eval()
