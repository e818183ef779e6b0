"""crmkit.sandbox: the only place admin-written code (expressions and scripts) runs.

Expressions are checked by a RestrictedPython policy, compiled once and evaluated
in-process with guarded attribute access and size-checked arithmetic. Scripts run in a
child process with CPU, memory and wall-clock limits. See docs/sandbox.md.
"""

from .expression import CompiledExpression, check_expression, compile_expression
from .functions import BUILTIN_FUNCTIONS
from .policy import (
    CompileProblem,
    ExpressionRuntimeError,
    ExpressionSyntaxError,
    SandboxError,
    SandboxLimitError,
    ScriptError,
)
from .records import EMPTY_RECORD, RecordView
from .script import ScriptResult, check_script, run_script

__all__ = [
    "BUILTIN_FUNCTIONS",
    "EMPTY_RECORD",
    "CompileProblem",
    "CompiledExpression",
    "ExpressionRuntimeError",
    "ExpressionSyntaxError",
    "RecordView",
    "SandboxError",
    "SandboxLimitError",
    "ScriptError",
    "ScriptResult",
    "check_expression",
    "check_script",
    "compile_expression",
    "run_script",
]
