"""The picklable facts the feature-flag extractor keeps per Python file."""

from __future__ import annotations

from dataclasses import dataclass, field

Span = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Binding:
    """A module-level (``X``) or class-level (``Settings.X``) name bound once to a literal."""

    name: str
    value: str  # the literal's code, read back with ast.literal_eval, never executed
    span: Span
    scope: str


@dataclass(frozen=True, slots=True)
class Test:
    """How a control-flow test uses a reference: ``form`` is truth, not or cmp; ``joined`` is and/or/''."""

    ref: str  # qualified reference, e.g. pkg.settings.FLAG
    span: Span  # the test expression
    context: str  # if, ternary, while
    form: str
    joined: str = ""
    op: str = ""
    other: str = ""  # the literal compared with, as code
    flag_left: bool = True
    body: tuple[int, int] = (0, 0)
    orelse: tuple[int, int] = (0, 0)
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Option:
    """A command-line option or parameter: argparse dest, click/typer parameter name."""

    dest: str
    flags: tuple[str, ...]
    span: Span
    framework: str  # argparse, click, typer
    parser: str = ""  # argparse: the parser key it belongs to, '' when it cannot be followed
    unread_in_function: bool = False  # click/typer: the parameter is never used in its function
    scope: str = ""


@dataclass(frozen=True, slots=True)
class Usage:
    """What a namespace-holding variable or parameter does: where it is passed, whether it escapes."""

    escapes: bool = False
    stored: bool = False
    returned: bool = False
    passes: tuple[tuple[str, str], ...] = ()  # (callee reference, position index or keyword)


@dataclass(frozen=True, slots=True)
class ConfigLoad:
    """A config file loaded from a literal path: the variable it lands in and the key path of every use."""

    path: str  # the literal path as written
    relative: str  # 'any': the repository root or the reading file's folder; 'file': the reading file's folder
    fmt: str  # yaml, json, toml
    loader: str  # e.g. yaml.safe_load
    var: str  # '' when the result is not assigned to a plain name (the load escapes)
    module_level: bool
    line: int
    uses: tuple[tuple[str, ...], ...] = ()  # literal key path of each use; () is an escape


@dataclass(frozen=True, slots=True)
class ArgClass:
    """A dataclass or pydantic settings class, with the fields that become options when something parses it."""

    name: str  # qualified within its module, e.g. ScriptArguments or Outer.Args
    bases: tuple[str, ...]  # resolved like callees: '?'-prefixed when outside the repository (settings base left out)
    kind: str  # dataclass, settings
    fields: tuple[tuple[str, Span], ...]


@dataclass(frozen=True, slots=True)
class FileFacts:
    parts: tuple[str, ...]  # module path components, e.g. ('src', 'pkg', 'settings')
    is_package: bool
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified target
    bindings: tuple[Binding, ...] = ()
    bound: frozenset[str] = frozenset()  # module/class-level names bound more than once or not to a literal
    plain_classes: frozenset[str] = frozenset()
    tests: tuple[Test, ...] = ()
    rebound_attrs: frozenset[str] = frozenset()  # attribute names written anywhere (x.N = ..., setattr, patch)
    writes_globals: bool = False  # this module's namespace is written with computed names (exec, globals()[k] = v)
    dynamic_targets: frozenset[str] = frozenset()  # other modules/classes written with computed names, as references
    env_reads: frozenset[str] = frozenset()  # environment variable names read with a literal key
    read_attrs: frozenset[str] = frozenset()  # attribute names read, getattr/vars literal keys
    dynamic: bool = False  # some vars()/__dict__/getattr access with a computed name in this file
    options: tuple[Option, ...] = ()
    parse_sites: tuple[tuple[str, str], ...] = ()  # (parser key or 'call:' + factory ref, usage key or return:fn)
    parser_factories: dict[str, str] = field(default_factory=dict)  # function ref -> parser key
    usages: dict[str, Usage] = field(default_factory=dict)  # usage key -> usage
    call_results: tuple[tuple[str, str], ...] = ()  # (callee ref, usage key) for x = callee(...)
    unassigned_calls: frozenset[str] = frozenset()  # callee refs whose result is used in another way
    functions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # function ref -> parameter names
    config_loads: tuple[ConfigLoad, ...] = ()
    config_mentions: frozenset[str] = frozenset()  # config file names in string literals outside followed loads
    uses_hydra: bool = False  # imports hydra or omegaconf
    config_unknown: frozenset[str] = frozenset()  # formats some loader here reads from a path not followed
    arg_classes: tuple[ArgClass, ...] = ()
    arg_sites: tuple[tuple[str, str, str], ...] = ()  # (parser, class ref, usage key or '' when not followed)
    hydra_mains: tuple[tuple[str, str, str, str, int], ...] = ()  # (function ref, parameter, config dir, name, line)
    hydra_other: bool = False  # configs composed or loaded another way here (compose, OmegaConf.load, ConfigStore)
    # function ref -> (parameter, 'read' | 'pass', key path, callee ref, slot) for each use of a parameter
    hydra_uses: dict[str, tuple[tuple[str, str, tuple[str, ...], str, str], ...]] = field(default_factory=dict)

    @property
    def raw_module(self) -> str:
        return ".".join(self.parts)
