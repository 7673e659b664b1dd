"""Generated tasks with fixed train/held-out splits per seed.

Each generator enumerates distinct instances from a seeded RNG; the first `num_eval`
form the held-out split and the next `num_train` the training split, so the two never
overlap and both are the same for the same seed and options.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from focusrl.data.config import ArithmeticConfig, CountdownConfig
from focusrl.data.sat import sat_instances
from focusrl.types import Prompt


def _operand(rng: random.Random, min_digits: int, max_digits: int) -> int:
    digits = rng.randint(min_digits, max_digits)
    low = 0 if digits == 1 else 10 ** (digits - 1)
    return rng.randint(low, 10**digits - 1)


def arithmetic_instances(cfg: ArithmeticConfig, rng: random.Random) -> Iterator[Prompt]:
    """`12+34=` -> answer '46'. Products and differences are exact integers.

    meta['difficulty'] = total operand digits (the knob `cfg.difficulty` fixes the digits
    per operand; a 1..4-digit range gives a mixed pool a curriculum can order)."""
    lo, hi = cfg.digit_range()
    while True:
        nums = [_operand(rng, lo, hi) for _ in range(cfg.num_operands)]
        ops = [rng.choice(cfg.operators) for _ in range(cfg.num_operands - 1)]
        expr = str(nums[0]) + "".join(f"{o}{n}" for o, n in zip(ops, nums[1:]))
        value = eval(expr, {"__builtins__": {}})  # noqa: S307 - digits and + - * only
        digits = sum(len(str(n)) for n in nums)
        yield Prompt(id=expr, text=f"{expr}=", answer=str(value),
                     meta={"task": "arithmetic", "difficulty": digits})


def countdown_instances(cfg: CountdownConfig, rng: random.Random) -> Iterator[Prompt]:
    """`3 5 7 -> 22:` asks for an expression over the numbers (each at most once) that
    equals the target; the target is built from a random expression over all of them.
    meta['difficulty'] = how many numbers are given (see `cfg.difficulty`)."""
    num_numbers, max_number = cfg.effective()
    while True:
        nums = [rng.randint(1, max_number) for _ in range(num_numbers)]
        order = nums[:]
        rng.shuffle(order)
        expr = str(order[0])
        for n in order[1:]:
            expr = f"({expr}{rng.choice('+-*')}{n})"
        target = eval(expr, {"__builtins__": {}})  # noqa: S307 - digits and + - * only
        if target < 0:
            continue
        key = " ".join(map(str, sorted(nums))) + f"->{target}"
        text = " ".join(map(str, nums)) + f" -> {target}:"
        yield Prompt(id=key, text=text, answer={"target": target, "numbers": nums},
                     meta={"task": "countdown", "difficulty": num_numbers, "solution": expr})


GENERATORS: dict[str, Callable[..., Iterator[Prompt]]] = {
    "arithmetic": arithmetic_instances,
    "countdown": countdown_instances,
    "sat": sat_instances,
}


def split_generated(
    instances: Iterator[Prompt], num_train: int, num_eval: int, max_tries: int = 1_000_000
) -> tuple[list[Prompt], list[Prompt]]:
    """Distinct instances: the first num_eval are held out, the next num_train train.

    When the task space is smaller than asked for, returns what exists (the held-out
    split is filled first) after `max_tries` draws without a new instance.
    """
    seen: set[str] = set()
    held: list[Prompt] = []
    train: list[Prompt] = []
    misses = 0
    for p in instances:
        if p.id in seen:
            misses += 1
            if misses > max_tries:
                break
            continue
        misses = 0
        seen.add(p.id)
        (held if len(held) < num_eval else train).append(p)
        if len(held) >= num_eval and len(train) >= num_train:
            break
    return train, held
