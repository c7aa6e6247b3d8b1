"""find_definition / find_references on small real sources in five languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from moco.errors import ToolError
from moco.tools.code import find_definition, find_references

PYTHON = '''\
"""Module docstring mentions Widget."""
import os
from shapes import Widget as W, render

LIMIT: int = 10
Widget = None  # rebinding Widget at module level


class Widget:
    size = 3

    def render(self) -> str:
        return render(self)

    async def fetch(self):
        def helper():
            LIMIT = 1  # local, not a definition
            return LIMIT
        return helper()


def render(widget):
    # render is mentioned in a comment only here
    return widget.render() + os.sep
'''

BROKEN_PYTHON = "def render(:\n    pass\nclass Render:\n    render()\n"

JS = """\
// function render() in a comment
export function render(node) {
  const label = "render()";
  return draw(node);
}
export default class Widget extends Base {
  constructor() { super(); }
  static async render(x) {
    return render(x);
  }
  handle = async (event) => {
    this.render(event);
  };
}
const Widget2 = () => render(null);
let counter = 0;
var legacy = 1;
"""

TS = """\
export interface Props { render?: boolean }
export type Renderer = (node: Node) => string;
export enum Mode { Fast, Slow }
const options = {
  render: (x) => x,
};
/* render
   is documented here */
function paint<T>(x: T): T { return x; }
"""

GO = """\
package shapes

// Render draws a widget.
func Render(w Widget) string {
\treturn "Render"
}

type Widget struct {
\tSize int
\tRender func()
}

type (
\tShape interface {
\t\tArea() float64
\t}
\tID int
)

const (
\tLimit = 10
)

func (w *Widget) Area() float64 {
\treturn Render(*w)
}
"""

RUST = """\
// fn render in a comment
pub struct Widget { size: u32 }
pub enum Shape { Circle, Square }
pub trait Render { fn render(&self) -> String; }
impl Render for Widget {
    fn render(&self) -> String { format!("render {}", self.size) }
}
impl<'a> Widget {
    pub const fn new(size: u32) -> Self { Widget { size } }
}
pub type Id = u64;
static mut COUNT: u32 = 0;
macro_rules! shout { () => {} }
fn main() { let w = Widget::new(1); println!("{}", w.render()); }
"""

JAVA = """\
package shapes;

/** Widget renders things; render() is in a comment. */
public class Widget implements Render {
    private final int size;

    public Widget(int size) { this.size = size; }

    @Override
    public String render() {
        return "render " + size;
    }

    static <T> List<T> render(List<T> items) { return items; }
}

interface Render {
    String render();
}
enum Shape { CIRCLE }
@interface Marker {}
record Point(int x, int y) {}
"""


@pytest.fixture
def sources(workdir: Path) -> Path:
    files = {
        "pkg/shapes.py": PYTHON,
        "pkg/broken.py": BROKEN_PYTHON,
        "web/widget.js": JS,
        "web/props.ts": TS,
        "go/shapes.go": GO,
        "rust/lib.rs": RUST,
        "java/Widget.java": JAVA,
        "node_modules/dep/index.js": "function render() {}\n",
        "README.md": "render Widget\n",
    }
    for name, content in files.items():
        path = workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return workdir


async def _defs(run: Any, symbol: str, path: str) -> list[str]:
    return (await run(find_definition, symbol=symbol, path=path)).splitlines()


async def _refs(run: Any, symbol: str, path: str) -> list[str]:
    return (await run(find_references, symbol=symbol, path=path)).splitlines()


async def test_python_definitions(run: Any, sources: Path) -> None:
    assert await _defs(run, "Widget", "pkg/shapes.py") == [
        "pkg/shapes.py:6: variable Widget",
        "pkg/shapes.py:9: class Widget",
    ]
    assert await _defs(run, "render", "pkg/shapes.py") == [
        "pkg/shapes.py:12: method Widget.render",
        "pkg/shapes.py:22: function render",
    ]
    assert await _defs(run, "Widget.render", "pkg/shapes.py") == [
        "pkg/shapes.py:12: method Widget.render"
    ]
    assert await _defs(run, "fetch", "pkg") == ["pkg/shapes.py:15: async method Widget.fetch"]
    assert await _defs(run, "helper", "pkg") == ["pkg/shapes.py:16: function Widget.fetch.helper"]
    assert await _defs(run, "LIMIT", "pkg") == ["pkg/shapes.py:5: variable LIMIT"]
    assert await _defs(run, "size", "pkg") == ["pkg/shapes.py:10: attribute Widget.size"]


async def test_python_references(run: Any, sources: Path) -> None:
    assert await _refs(run, "render", "pkg/shapes.py") == [
        "pkg/shapes.py:3: from shapes import Widget as W, render",
        "pkg/shapes.py:12: def render(self) -> str:",
        "pkg/shapes.py:13: return render(self)",
        "pkg/shapes.py:22: def render(widget):",
        "pkg/shapes.py:24: return widget.render() + os.sep",
    ]
    assert await _refs(run, "os", "pkg/shapes.py") == [
        "pkg/shapes.py:2: import os",
        "pkg/shapes.py:24: return widget.render() + os.sep",
    ]


async def test_python_that_does_not_parse_falls_back(run: Any, sources: Path) -> None:
    assert await _defs(run, "render", "pkg/broken.py") == ["pkg/broken.py:1: function render"]
    assert await _defs(run, "Render", "pkg/broken.py") == ["pkg/broken.py:3: class Render"]
    assert await _refs(run, "render", "pkg/broken.py") == [
        "pkg/broken.py:1: def render(:",
        "pkg/broken.py:4: render()",
    ]


async def test_javascript_and_typescript(run: Any, sources: Path) -> None:
    assert await _defs(run, "render", "web") == [
        "web/props.ts:5: property render",
        "web/widget.js:2: function render",
        "web/widget.js:8: method render",
    ]
    assert await _defs(run, "Widget", "web") == ["web/widget.js:6: class Widget"]
    assert await _defs(run, "Widget2", "web") == ["web/widget.js:15: const Widget2"]
    assert await _defs(run, "handle", "web") == ["web/widget.js:11: property handle"]
    assert await _defs(run, "counter", "web") == ["web/widget.js:16: let counter"]
    assert await _defs(run, "legacy", "web") == ["web/widget.js:17: var legacy"]
    assert await _defs(run, "Props", "web") == ["web/props.ts:1: interface Props"]
    assert await _defs(run, "Renderer", "web") == ["web/props.ts:2: type Renderer"]
    assert await _defs(run, "Mode", "web") == ["web/props.ts:3: enum Mode"]
    assert await _defs(run, "paint", "web") == ["web/props.ts:9: function paint"]
    refs = await _refs(run, "render", "web/widget.js")
    assert refs == [
        "web/widget.js:2: export function render(node) {",
        "web/widget.js:8: static async render(x) {",
        "web/widget.js:9: return render(x);",
        "web/widget.js:12: this.render(event);",
        "web/widget.js:15: const Widget2 = () => render(null);",
    ]
    assert await _refs(run, "render", "web/props.ts") == [
        "web/props.ts:1: export interface Props { render?: boolean }",
        "web/props.ts:5: render: (x) => x,",
    ]


async def test_go(run: Any, sources: Path) -> None:
    assert await _defs(run, "Render", "go") == ["go/shapes.go:4: func Render"]
    assert await _defs(run, "Widget", "go") == ["go/shapes.go:8: struct Widget"]
    assert await _defs(run, "Area", "go") == ["go/shapes.go:24: method Area"]
    assert await _defs(run, "Shape", "go") == ["go/shapes.go:14: type Shape"]
    assert await _defs(run, "ID", "go") == ["go/shapes.go:17: type ID"]
    assert await _defs(run, "Limit", "go") == ["go/shapes.go:21: const Limit"]
    assert await _refs(run, "Render", "go") == [
        "go/shapes.go:4: func Render(w Widget) string {",
        "go/shapes.go:10: Render func()",
        "go/shapes.go:25: return Render(*w)",
    ]


async def test_rust(run: Any, sources: Path) -> None:
    assert await _defs(run, "Widget", "rust") == [
        "rust/lib.rs:2: struct Widget",
        "rust/lib.rs:5: impl Widget",
        "rust/lib.rs:8: impl Widget",
    ]
    assert await _defs(run, "render", "rust") == [
        "rust/lib.rs:4: fn render",
        "rust/lib.rs:6: fn render",
    ]
    assert await _defs(run, "Render", "rust") == [
        "rust/lib.rs:4: trait Render",
        "rust/lib.rs:5: impl Render",
    ]
    assert await _defs(run, "Shape", "rust") == ["rust/lib.rs:3: enum Shape"]
    assert await _defs(run, "new", "rust") == ["rust/lib.rs:9: fn new"]
    assert await _defs(run, "Id", "rust") == ["rust/lib.rs:11: type Id"]
    assert await _defs(run, "COUNT", "rust") == ["rust/lib.rs:12: const COUNT"]
    assert await _defs(run, "shout", "rust") == ["rust/lib.rs:13: macro shout"]
    assert [ref.split(": ")[0] for ref in await _refs(run, "render", "rust")] == [
        "rust/lib.rs:4",
        "rust/lib.rs:6",
        "rust/lib.rs:14",
    ]


async def test_java(run: Any, sources: Path) -> None:
    assert await _defs(run, "Widget", "java") == [
        "java/Widget.java:4: class Widget",
        "java/Widget.java:7: constructor Widget",
    ]
    assert await _defs(run, "render", "java") == [
        "java/Widget.java:10: method render",
        "java/Widget.java:14: method render",
        "java/Widget.java:18: method render",
    ]
    assert await _defs(run, "Render", "java") == ["java/Widget.java:17: interface Render"]
    assert await _defs(run, "Shape", "java") == ["java/Widget.java:20: enum Shape"]
    assert await _defs(run, "Marker", "java") == ["java/Widget.java:21: annotation Marker"]
    assert await _defs(run, "Point", "java") == ["java/Widget.java:22: record Point"]
    assert [ref.split(": ")[0] for ref in await _refs(run, "render", "java")] == [
        "java/Widget.java:10",
        "java/Widget.java:14",
        "java/Widget.java:18",
    ]


async def test_whole_tree_skips_noise_and_other_files(run: Any, sources: Path) -> None:
    found = await _defs(run, "render", ".")
    assert not any("node_modules" in line or "README" in line for line in found)
    assert {line.split("/")[0] for line in found} == {"java", "pkg", "rust", "web"}


async def test_misses_and_bad_input(run: Any, sources: Path) -> None:
    assert "no definition of nothing found" in await run(find_definition, symbol="nothing")
    assert "no references to nothing found" in await run(find_references, symbol="nothing")
    with pytest.raises(ToolError, match="not an identifier"):
        await run(find_definition, symbol="a b")
    with pytest.raises(ToolError, match="outside the working directory"):
        await run(find_references, symbol="x", path="..")
