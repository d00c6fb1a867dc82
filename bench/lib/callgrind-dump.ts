// Reads a callgrind dump (Ir only): the total, and how much of it went to V8's garbage collector and
// to its optimising compilers, by the C++ function names (JIT-compiled JavaScript has no symbols and
// counts as the rest). GC and compilation come in lumps (a major GC now and then, tier-ups after a
// change of shape), so "the rest" is the steadier figure for a before/after; the total is the cost.
//
//   node bench/lib/callgrind-dump.ts [--per N] FILE…   prints the split of each dump (per request of N)

/** Instructions of one dump. */
export interface DumpSplit {
  total: number;
  gc: number;
  compiler: number;
}

const GC =
  /(v8::internal::(Scavenger|Scavenge|.*Marking|.*Marker|Sweeper|Heap::|.*Evacuat|MarkCompact|MinorMark|.*Visitor|MemoryAllocator|PagedSpace|.*LargeObjectSpace|SemiSpace|GCTracer|.*Compactor|MemoryChunk|.*PageMetadata|HeapObject::SizeFromMap|WeakObjects|RememberedSet|SlotSet|TypedSlot|.*Worklist|ArrayBufferSweeper|ConcurrentAllocator|MainAllocator|LocalHeap|HeapAllocator|.*Slot.*::|.*IterateAndScavenge|.*RootVisitor|.*ObjectVisitor|IterateObjectCache|.*PretenuringHandler|.*HeapVerifier|Isolate::Iterate|ExternalReferenceTable)|heap::base::|cppgc::|BodyDescriptorBase::Iterate)/;
const COMPILER =
  /v8::internal::(compiler::|maglev::|turboshaft::|interpreter::|baseline::|Compiler::|OptimizingCompile|.*CompilationJob|Parser|PreParser|Scanner|AstNode|.*Scope::|BytecodeGenerator|Zone::|ZoneList|CodeAssembler|Assembler|MacroAssembler|wasm::)/;

export function splitDump(text: string): DumpSplit {
  const names = new Map<string, string>();
  let fn = "";
  let skipNext = false;
  const out: DumpSplit = { total: 0, gc: 0, compiler: 0 };
  for (const line of text.split("\n")) {
    if (skipNext) {
      skipNext = false; // the inclusive cost of a call, already counted in the callee
      continue;
    }
    const c = line.charCodeAt(0);
    if ((c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42) {
      const ir = Number(line.slice(line.lastIndexOf(" ") + 1));
      if (!Number.isFinite(ir)) continue;
      out.total += ir;
      if (GC.test(fn)) out.gc += ir;
      else if (COMPILER.test(fn)) out.compiler += ir;
    } else if (line.startsWith("fn=")) {
      // "fn=(12) name" defines id 12; "fn=(12)" refers to it.
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (m) {
        if (m[2] !== undefined) names.set(m[1] as string, m[2]);
        fn = names.get(m[1] as string) ?? "";
      } else fn = line.slice(3);
    } else if (line.startsWith("cfn=")) {
      // A callee's name is defined where it is first named, often here ("cfn=(12) name").
      const m = /^cfn=\((\d+)\) (.*)$/.exec(line);
      if (m) names.set(m[1] as string, m[2] as string);
    } else if (line.startsWith("calls=")) skipNext = true;
  }
  return out;
}

if (import.meta.main) {
  const { readFileSync } = await import("node:fs");
  const { parseArgs } = await import("node:util");
  const { values, positionals } = parseArgs({ options: { per: { type: "string" } }, allowPositionals: true });
  // --per N: thousands of instructions per request of a dump that counted N requests.
  const per = Number(values.per ?? 0);
  const show = (x: number) => (per > 0 ? `${(x / per / 1000).toFixed(1)} k/req` : String(x));
  for (const f of positionals) {
    const s = splitDump(readFileSync(f, "utf8"));
    const pct = (x: number) => `${((100 * x) / s.total).toFixed(1)} %`;
    process.stdout.write(
      `${f}: total ${show(s.total)}, GC ${show(s.gc)} (${pct(s.gc)}), compiler ${show(s.compiler)} (${pct(s.compiler)}), rest ${show(s.total - s.gc - s.compiler)}\n`,
    );
  }
}
