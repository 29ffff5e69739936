//! The arithmetic and text of the report: medians, ratios, geomeans, the Markdown
//! table and the summary lines, and the check that every runtime printed the same.

use std::fmt::Write as _;
use std::time::Duration;

/// A program's kind, for the summary lines.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Python,
    /// A short C program (whether it counts as short is decided by its time).
    Short,
    /// A C program that runs long in one activation.
    Kernel,
    Generated,
}

/// What a runtime stands for in the ratios.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    /// `--tier auto`, or no `--tier` where `auto` does not exist yet.
    LazuliDefault,
    LazuliFast,
    LazuliOptimized,
    Wasmtime,
    Winch,
    Wasmi,
    Node,
    /// `--second-start`: with a warm code cache, and from a precompiled module.
    LazuliWarm,
    WasmtimeWarm,
    LazuliPrecompiled,
    WasmtimePrecompiled,
}

/// The figures of one program under one runtime.
#[derive(Debug)]
pub(crate) enum Cell {
    /// Not run, and why.
    Skipped(String),
    /// (wall, CPU) of each timed run.
    Timed(Vec<(Duration, Option<Duration>)>),
}

/// A line of the table.
pub(crate) struct Row {
    pub program: String,
    pub kind: Kind,
    pub runtime: String,
    pub role: Role,
    pub cell: Cell,
}

/// The start of the reason of a cell whose output disagreed.
pub(crate) const WRONG_OUTPUT: &str = "WRONG OUTPUT";

/// Rows whose Lazuli default run takes less than this many seconds are short.
const SHORT_SECONDS: f64 = 0.5;

impl Row {
    /// Median wall seconds, if timed.
    fn wall(&self) -> Option<f64> {
        match &self.cell {
            Cell::Timed(s) => median(s.iter().map(|(w, _)| w.as_secs_f64()).collect()),
            Cell::Skipped(_) => None,
        }
    }

    /// Median CPU seconds, if every run has one.
    fn cpu(&self) -> Option<f64> {
        match &self.cell {
            Cell::Timed(s) => median(
                s.iter()
                    .map(|(_, c)| c.map(|c| c.as_secs_f64()))
                    .collect::<Option<_>>()?,
            ),
            Cell::Skipped(_) => None,
        }
    }
}

pub(crate) fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    })
}

pub(crate) fn geomean(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() || xs.iter().any(|&x| x <= 0.0 || !x.is_finite()) {
        return None;
    }
    Some((xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len() as f64).exp())
}

/// The median wall time of `program` under the runtime playing `role`.
fn wall_of(rows: &[Row], program: &str, role: Role) -> Option<f64> {
    rows.iter()
        .find(|r| r.program == program && r.role == role)
        .and_then(Row::wall)
}

/// `role`'s time over `reference`'s on `program`.
fn ratio(rows: &[Row], program: &str, role: Role, reference: Role) -> Option<f64> {
    Some(wall_of(rows, program, role)? / wall_of(rows, program, reference)?)
}

/// The programs in table order, each once.
fn programs(rows: &[Row]) -> Vec<(&str, Kind)> {
    let mut out: Vec<(&str, Kind)> = Vec::new();
    for r in rows {
        if !out.iter().any(|(p, _)| *p == r.program) {
            out.push((&r.program, r.kind));
        }
    }
    out
}

/// The programs whose Lazuli default run took less than [`SHORT_SECONDS`], but for
/// the generated module, which has its own target.
fn short_programs(rows: &[Row]) -> Vec<&str> {
    programs(rows)
        .into_iter()
        .filter(|(_, k)| *k != Kind::Generated)
        .map(|(p, _)| p)
        .filter(|p| wall_of(rows, p, Role::LazuliDefault).is_some_and(|t| t < SHORT_SECONDS))
        .collect()
}

/// Which of `outputs` differ from what most of them printed (ties: the earliest such
/// output wins), as (index, reason).
pub(crate) fn disagreements(outputs: &[Vec<u8>]) -> Vec<(usize, String)> {
    let count = |o: &Vec<u8>| outputs.iter().filter(|x| *x == o).count();
    let Some(reference) = outputs.iter().max_by_key(|o| {
        (
            count(o),
            std::cmp::Reverse(outputs.iter().position(|x| x == *o)),
        )
    }) else {
        return Vec::new();
    };
    let shown = |o: &[u8]| {
        let text = String::from_utf8_lossy(o);
        let first = text.lines().next().unwrap_or("").to_string();
        if first.chars().count() > 60 {
            first.chars().take(60).collect::<String>() + "…"
        } else {
            first
        }
    };
    outputs
        .iter()
        .enumerate()
        .filter(|(_, o)| *o != reference)
        .map(|(i, o)| {
            (
                i,
                format!(
                    "{WRONG_OUTPUT}: `{}` where the others print `{}`",
                    shown(o),
                    shown(reference)
                ),
            )
        })
        .collect()
}

pub(crate) fn fmt_time(seconds: f64) -> String {
    if seconds >= 1.0 {
        format!("{seconds:.2} s")
    } else {
        format!("{:.0} ms", seconds * 1e3)
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "—".to_string(), |r| format!("{r:.2}"))
}

/// The Markdown table: program, runtime, median wall, median CPU, and the wall time
/// over Wasmtime's (Cranelift), wasmi's and Winch's on the same program.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| program | runtime | wall (median) | CPU, user+sys | ÷ Wasmtime | ÷ wasmi | ÷ Winch |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|\n");
    for row in rows {
        let (wall, cpu, ratios) = match &row.cell {
            Cell::Skipped(why) => (
                format!("skipped: {why}"),
                String::new(),
                ["", "", ""].map(String::from),
            ),
            Cell::Timed(_) => (
                row.wall().map_or_else(String::new, fmt_time),
                row.cpu().map_or_else(|| "?".to_string(), fmt_time),
                [Role::Wasmtime, Role::Wasmi, Role::Winch]
                    .map(|reference| fmt_ratio(ratio(rows, &row.program, row.role, reference))),
            ),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.program, row.runtime, wall, cpu, ratios[0], ratios[1], ratios[2]
        );
    }
    out
}

/// The targets of issue 10, as far as these rows measure them.
pub(crate) fn summary(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let default = rows
        .iter()
        .find(|r| r.role == Role::LazuliDefault)
        .map_or("Lazuli", |r| r.runtime.as_str());
    let all = programs(rows);
    for (p, _) in all.iter().filter(|(_, k)| *k == Kind::Python) {
        lines.push(format!(
            "- {p}: {default} ÷ Wasmtime = {} (target ≤ 0.35)",
            fmt_ratio(ratio(rows, p, Role::LazuliDefault, Role::Wasmtime))
        ));
    }
    let short = short_programs(rows);
    for (reference, name, target) in [
        (Role::Wasmtime, "Wasmtime", "0.5"),
        (Role::Wasmi, "wasmi", "1.5"),
        (Role::Winch, "Winch", "1.5"),
    ] {
        let ratios: Vec<f64> = short
            .iter()
            .filter_map(|p| ratio(rows, p, Role::LazuliDefault, reference))
            .collect();
        lines.push(format!(
            "- short rows (Lazuli default < {SHORT_SECONDS} s, generated module aside; {} of {} with {name}): geomean {default} ÷ {name} = {} (target ≤ {target})",
            ratios.len(),
            short.len(),
            fmt_ratio(geomean(&ratios))
        ));
    }
    let kernels: Vec<(&str, Option<f64>)> = all
        .iter()
        .filter(|(_, k)| *k == Kind::Kernel)
        .map(|(p, _)| {
            (
                *p,
                ratio(rows, p, Role::LazuliDefault, Role::LazuliOptimized),
            )
        })
        .collect();
    let each: Vec<String> = kernels
        .iter()
        .map(|(p, r)| format!("{p} {}", fmt_ratio(*r)))
        .collect();
    let known: Vec<f64> = kernels.iter().filter_map(|(_, r)| *r).collect();
    lines.push(format!(
        "- C kernels, {default} ÷ `--tier optimized`: geomean {} ({}; target ≤ 1.05)",
        fmt_ratio(geomean(&known)),
        each.join(", ")
    ));
    lines
}

/// The targets of issue 11 (the second start), as far as these rows measure them.
pub(crate) fn second_start_summary(rows: &[Row]) -> Vec<String> {
    let mut lines = Vec::new();
    let all = programs(rows);
    for (p, _) in all.iter().filter(|(_, k)| *k == Kind::Python) {
        let warm = wall_of(rows, p, Role::LazuliWarm);
        lines.push(format!(
            "- {p}, second run with the cache: Lazuli {} (target ≤ 100 ms), ÷ Wasmtime with its cache warm = {}",
            warm.map_or_else(|| "—".to_string(), fmt_time),
            fmt_ratio(ratio(rows, p, Role::LazuliWarm, Role::WasmtimeWarm))
        ));
    }
    for (role, reference, what, target) in [
        (Role::LazuliWarm, Role::WasmtimeWarm, "warm cache", ""),
        (
            Role::LazuliPrecompiled,
            Role::WasmtimePrecompiled,
            "precompiled",
            " (target ≤ 1)",
        ),
    ] {
        let each: Vec<(&str, Option<f64>)> = all
            .iter()
            .map(|(p, _)| (*p, ratio(rows, p, role, reference)))
            .collect();
        let known: Vec<f64> = each.iter().filter_map(|(_, r)| *r).collect();
        let listed: Vec<String> = each
            .iter()
            .map(|(p, r)| format!("{p} {}", fmt_ratio(*r)))
            .collect();
        lines.push(format!(
            "- {what}, Lazuli ÷ Wasmtime: geomean {}{target}; {}",
            fmt_ratio(geomean(&known)),
            listed.join(", ")
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(program: &str, kind: Kind, role: Role, walls: &[f64]) -> Row {
        Row {
            program: program.to_string(),
            kind,
            runtime: format!("{role:?}"),
            role,
            cell: Cell::Timed(
                walls
                    .iter()
                    .map(|&w| {
                        (
                            Duration::from_secs_f64(w),
                            Some(Duration::from_secs_f64(w / 2.0)),
                        )
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn median_and_geomean() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(Vec::new()), None);
        let g = geomean(&[0.25, 4.0, 1.0]).unwrap();
        assert!((g - 1.0).abs() < 1e-12, "{g}");
        let g = geomean(&[2.0, 8.0]).unwrap();
        assert!((g - 4.0).abs() < 1e-12, "{g}");
        assert_eq!(geomean(&[]), None);
        assert_eq!(geomean(&[1.0, 0.0]), None);
    }

    #[test]
    fn majority_output_is_the_reference() {
        let a = b"42\n".to_vec();
        let b = b"41\n".to_vec();
        assert!(disagreements(&[a.clone(), a.clone(), a.clone()]).is_empty());
        let d = disagreements(&[a.clone(), b.clone(), a.clone()]);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, 1);
        assert!(
            d[0].1.starts_with(WRONG_OUTPUT) && d[0].1.contains("`41`"),
            "{}",
            d[0].1
        );
        // A tie: the first output printed wins.
        let d = disagreements(&[b.clone(), a.clone()]);
        assert_eq!(d.iter().map(|x| x.0).collect::<Vec<_>>(), [1]);
        assert!(disagreements(&[]).is_empty());
    }

    fn sample() -> Vec<Row> {
        vec![
            row("py", Kind::Python, Role::LazuliDefault, &[2.0, 1.0, 9.0]),
            row("py", Kind::Python, Role::Wasmtime, &[4.0]),
            row("a", Kind::Short, Role::LazuliDefault, &[0.1]),
            row("a", Kind::Short, Role::Wasmtime, &[0.4]),
            row("a", Kind::Short, Role::Wasmi, &[0.05]),
            row("b", Kind::Short, Role::LazuliDefault, &[0.2]),
            row("b", Kind::Short, Role::Wasmtime, &[0.2]),
            Row {
                program: "b".to_string(),
                kind: Kind::Short,
                runtime: "wasmi".to_string(),
                role: Role::Wasmi,
                cell: Cell::Skipped("not found".to_string()),
            },
            // Fast, but not a short row.
            row("g", Kind::Generated, Role::LazuliDefault, &[0.01]),
            row("g", Kind::Generated, Role::Wasmtime, &[1.0]),
            // Not short: Lazuli takes 0.6 s.
            row("k", Kind::Kernel, Role::LazuliDefault, &[0.6]),
            row("k", Kind::Kernel, Role::LazuliOptimized, &[0.5]),
            row("k", Kind::Kernel, Role::Wasmtime, &[0.01]),
        ]
    }

    #[test]
    fn short_rows_are_chosen_by_lazulis_time() {
        assert_eq!(short_programs(&sample()), ["a", "b"]);
    }

    #[test]
    fn summary_ratios() {
        let s = summary(&sample());
        assert!(s[0].contains("py") && s[0].contains("= 0.50"), "{}", s[0]);
        // (0.1/0.4 · 0.2/0.2)^½ = 0.5; the kernel's 60× is not a short row.
        assert!(
            s[1].contains("2 of 2 with Wasmtime") && s[1].contains("= 0.50"),
            "{}",
            s[1]
        );
        assert!(
            s[2].contains("1 of 2 with wasmi") && s[2].contains("= 2.00"),
            "{}",
            s[2]
        );
        assert!(
            s[3].contains("0 of 2 with Winch") && s[3].contains("= —"),
            "{}",
            s[3]
        );
        assert!(s[4].contains("geomean 1.20"), "{}", s[4]);
    }

    #[test]
    fn table_rows() {
        let t = table(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2 + sample().len());
        // Median 2 s, CPU 1 s, ÷ Wasmtime 0.5, no wasmi or Winch row.
        assert_eq!(
            lines[2],
            "| py | LazuliDefault | 2.00 s | 1.00 s | 0.50 | — | — |"
        );
        assert_eq!(
            lines[5],
            "| a | Wasmtime | 400 ms | 200 ms | 1.00 | 8.00 | — |"
        );
        assert!(lines[9].contains("skipped: not found"), "{}", lines[9]);
        assert!(
            lines[10].starts_with("| g | LazuliDefault | 10 ms | 5 ms | 0.01 |"),
            "{}",
            lines[10]
        );
    }

    #[test]
    fn second_start_summary_ratios() {
        let rows = vec![
            row("py", Kind::Python, Role::LazuliWarm, &[0.08]),
            row("py", Kind::Python, Role::WasmtimeWarm, &[0.04]),
            row("py", Kind::Python, Role::LazuliPrecompiled, &[0.02]),
            row("py", Kind::Python, Role::WasmtimePrecompiled, &[0.02]),
            row("a", Kind::Short, Role::LazuliWarm, &[0.5]),
            row("a", Kind::Short, Role::WasmtimeWarm, &[1.0]),
            row("a", Kind::Short, Role::LazuliPrecompiled, &[0.4]),
            row("a", Kind::Short, Role::WasmtimePrecompiled, &[0.1]),
        ];
        let s = second_start_summary(&rows);
        assert!(
            s[0].contains("Lazuli 80 ms") && s[0].contains("= 2.00"),
            "{}",
            s[0]
        );
        // Warm: 2.0 and 0.5; precompiled: 1.0 and 4.0.
        assert!(
            s[1].contains("geomean 1.00;") && s[1].contains("a 0.50"),
            "{}",
            s[1]
        );
        assert!(s[2].contains("geomean 2.00 (target ≤ 1)"), "{}", s[2]);
    }
}
