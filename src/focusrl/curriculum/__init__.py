"""Prompt samplers: uniform, EDCO entropy curriculum, knapsack budgets, difficulty ladder."""

from focusrl.curriculum.base import PromptSampler, UniformSampler
from focusrl.curriculum.factory import build_sampler

__all__ = ["PromptSampler", "UniformSampler", "build_sampler"]
