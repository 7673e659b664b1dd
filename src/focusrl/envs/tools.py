"""Tool use: the model calls a tool, reads its output, and answers.

Protocol of a model turn (first word decides; one action per turn):
  `calc <expression>`    the calculator: + - * / // % ** and parentheses on numbers
  `python <code>`        runs <code> in focusrl's sandbox (rewards/sandbox); stdout comes back
  `answer <text>`        ends the episode; reward 1 when it equals the task's answer
Anything else gets a hint and no reward. Tool output comes back as `= <result>\\n`.
Tasks (make_tasks): `a*b` with an `a_digits`-digit and a `b_digits`-digit operand, too
hard for a tiny model's head, easy with the calculator.
"""

from __future__ import annotations

import ast
import operator
import random
from typing import Any, ClassVar

from focusrl.envs.base import Environment, StepResult
from focusrl.types import Prompt

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression safely (no names, calls or attributes); the
    result as text, or `error: ...`."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
        value = _eval(tree.body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as e:
        return f"error: {e}"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _eval(node: ast.AST) -> int | float:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise ValueError("exponent too large")
        return _BINOPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    raise ValueError("only numbers and + - * / // % ** ( ) are allowed")


def parse_action(text: str) -> tuple[str, str]:
    """`'calc 2*3'` -> ('calc', '2*3'); the verb is lower-cased, the rest stripped."""
    parts = text.strip().split(maxsplit=1)
    if not parts:
        return "", ""
    return parts[0].lower(), parts[1].strip() if len(parts) > 1 else ""


def multiplication_tasks(n: int, rng: random.Random, a_digits: int = 3,
                         b_digits: int = 1) -> list[Prompt]:
    out = []
    for i in range(n):
        a = rng.randint(10 ** (a_digits - 1), 10**a_digits - 1)
        b = rng.randint(max(2, 10 ** (b_digits - 1)), 10**b_digits - 1)
        out.append(Prompt(f"mul-{i}", f"{a}*{b}=?\n", str(a * b),
                          {"expression": f"{a}*{b}"}))
    return out


class ToolEnv(Environment):
    """Answer an arithmetic question; the tools in `tools` may be called first."""

    name: ClassVar[str] = "tools"
    tools: ClassVar[tuple[str, ...]] = ("calc", "python")

    def __init__(self, a_digits: int = 3, b_digits: int = 1, tool_cost: float = 0.0,
                 sandbox: dict[str, Any] | None = None):
        self.tool_cost = tool_cost
        """Reward (negative) for each tool call, to prefer answering when it is easy."""
        self.sandbox = sandbox or {}
        """SandboxConfig fields for the python tool (e.g. {'isolation': 'none'})."""
        self.answer = ""

    @classmethod
    def make_tasks(cls, n: int, rng: random.Random, a_digits: int = 3, b_digits: int = 1,
                   **_: Any) -> list[Prompt]:
        return multiplication_tasks(n, rng, a_digits, b_digits)

    def reset(self, task: Prompt) -> str:
        self.answer = str(task.answer)
        return task.text

    def step(self, action: str) -> StepResult:
        verb, arg = parse_action(action)
        if verb == "answer":
            correct = arg == self.answer
            return StepResult("", float(correct), True, {"correct": correct})
        if verb in self.tools:
            out = calculate(arg) if verb == "calc" else self._python(arg)
            return StepResult(f"= {out}\n", -self.tool_cost, False, {"tool_calls": 1})
        tools = " or ".join(f"'{t} ...'" for t in self.tools)
        return StepResult(f"say {tools} or 'answer ...'\n", 0.0, False, {})

    def _python(self, code: str) -> str:
        from focusrl.rewards.sandbox import SandboxConfig, run_program

        result = run_program(code, SandboxConfig(**self.sandbox))
        if result.status != "pass":
            why = (result.detail or result.stderr_tail)[-200:].strip()
            return f"error: {result.status} {why}"
        return result.stdout_tail.strip()[-200:]


class CalculatorEnv(ToolEnv):
    name: ClassVar[str] = "calculator"
    tools: ClassVar[tuple[str, ...]] = ("calc",)


class PythonToolEnv(ToolEnv):
    name: ClassVar[str] = "python_tool"
    tools: ClassVar[tuple[str, ...]] = ("python",)
