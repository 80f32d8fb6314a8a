/// Unified diffs (`diff -u`) of two texts, line by line, from the standard library's
/// `CollectionDifference` (Myers' algorithm). Empty when the texts are equal.
public enum UnifiedDiff {
    public static func make(from old: String, to new: String, oldLabel: String, newLabel: String, context: Int = 3) -> String {
        guard old != new else { return "" }
        let a = lines(old), b = lines(new)
        let difference = b.difference(from: a)
        var removed = Set<Int>(), inserted = Set<Int>()
        for change in difference {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        // The edit script: walk both texts, deletions first at each point.
        enum Op { case keep, delete, insert }
        var ops: [(Op, Int, Int)] = []  // op, index in a, index in b (before the op)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            if i < a.count, removed.contains(i) { ops.append((.delete, i, j)); i += 1 }
            else if j < b.count, inserted.contains(j) { ops.append((.insert, i, j)); j += 1 }
            else { ops.append((.keep, i, j)); i += 1; j += 1 }
        }
        var out = "--- \(oldLabel)\n+++ \(newLabel)\n"
        var k = 0
        while k < ops.count {
            guard ops[k].0 != .keep else { k += 1; continue }
            // A hunk: from `context` keeps before the first change to `context` keeps after the
            // last change that is within 2×context keeps of the previous one.
            let start = max(0, k - context)
            var end = k
            var lastChange = k
            while end < ops.count {
                if ops[end].0 != .keep { lastChange = end }
                if end - lastChange > 2 * context { break }
                end += 1
            }
            end = min(ops.count, lastChange + context + 1)
            let hunk = ops[start..<end]
            let oldCount = hunk.filter { $0.0 != .insert }.count, newCount = hunk.filter { $0.0 != .delete }.count
            let oldStart = hunk.first.map { $0.1 } ?? 0, newStart = hunk.first.map { $0.2 } ?? 0
            out += "@@ -\(range(oldStart, oldCount)) +\(range(newStart, newCount)) @@\n"
            for (op, ai, bj) in hunk {
                switch op {
                case .keep: out += " " + a[ai] + "\n"
                case .delete: out += "-" + a[ai] + "\n"
                case .insert: out += "+" + b[bj] + "\n"
                }
            }
            k = end
        }
        return out
    }

    /// `start,count` as diff writes it: 1-based, and for an empty range the line before it.
    private static func range(_ start: Int, _ count: Int) -> String {
        count == 0 ? "\(start),0" : count == 1 ? "\(start + 1)" : "\(start + 1),\(count)"
    }

    private static func lines(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var parts = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if text.hasSuffix("\n") { parts.removeLast() }
        return parts
    }
}
