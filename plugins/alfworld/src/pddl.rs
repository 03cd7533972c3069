//! Reading the PDDL problems ALFWorld ships in `game.tw-pddl` files.
//!
//! A problem is an S-expression: typed `:objects`, ground `:init` facts and a `:goal`
//! formula (`and`, `or`, `not`, `exists`, `forall`, `=` and atoms). Like fast-downward,
//! which TextWorld uses, everything is case-insensitive, so names are lower-cased here.
//!
//! The S-expression reader is hand-rolled: it is thirty lines, and the PDDL crates on
//! crates.io parse full domains with requirements we do not need.

use thiserror::Error;

/// Why a PDDL text could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PddlError {
    #[error("unbalanced parentheses in the PDDL problem")]
    Unbalanced,
    #[error("the PDDL problem has no `{0}` section")]
    MissingSection(&'static str),
    #[error("malformed PDDL: {0}")]
    Malformed(String),
}

/// An S-expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sexp {
    Atom(String),
    List(Vec<Sexp>),
}

impl Sexp {
    fn as_atom(&self) -> Option<&str> {
        match self {
            Sexp::Atom(a) => Some(a),
            Sexp::List(_) => None,
        }
    }
    fn as_list(&self) -> Option<&[Sexp]> {
        match self {
            Sexp::List(l) => Some(l),
            Sexp::Atom(_) => None,
        }
    }
    /// The head atom of a list, e.g. `and` in `(and …)`.
    fn head(&self) -> Option<&str> {
        self.as_list()?.first()?.as_atom()
    }
}

/// Parses one S-expression, lower-casing atoms and skipping `;` comments.
pub fn parse_sexp(text: &str) -> Result<Sexp, PddlError> {
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    let mut token = String::new();
    let flush = |token: &mut String, stack: &mut Vec<Vec<Sexp>>| {
        if !token.is_empty()
            && let Some(top) = stack.last_mut()
        {
            top.push(Sexp::Atom(std::mem::take(token).to_lowercase()));
        }
    };
    let mut in_comment = false;
    for c in text.chars() {
        if in_comment {
            in_comment = c != '\n';
            continue;
        }
        match c {
            ';' => {
                flush(&mut token, &mut stack);
                in_comment = true;
            }
            '(' => {
                flush(&mut token, &mut stack);
                stack.push(Vec::new());
            }
            ')' => {
                flush(&mut token, &mut stack);
                let list = stack.pop().ok_or(PddlError::Unbalanced)?;
                stack
                    .last_mut()
                    .ok_or(PddlError::Unbalanced)?
                    .push(Sexp::List(list));
            }
            c if c.is_whitespace() => flush(&mut token, &mut stack),
            c => token.push(c),
        }
    }
    flush(&mut token, &mut stack);
    let mut top = stack.pop().ok_or(PddlError::Unbalanced)?;
    if !stack.is_empty() {
        return Err(PddlError::Unbalanced);
    }
    match top.len() {
        1 => Ok(top.remove(0)),
        0 => Err(PddlError::Malformed("empty text".into())),
        // Some ALFWorld goal templates carry one `)` too many; the first form is the problem.
        _ => Ok(top.remove(0)),
    }
}

/// A term of a formula: a quantified variable (by index) or a constant name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    Var(usize),
    Const(String),
}

/// A goal formula with variables resolved to indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Formula {
    And(Vec<Formula>),
    Or(Vec<Formula>),
    Not(Box<Formula>),
    /// Variables `vars` (indices into the variable table), all bound at once.
    Exists(Vec<usize>, Box<Formula>),
    Forall(Vec<usize>, Box<Formula>),
    Eq(Term, Term),
    Atom(String, Vec<Term>),
}

impl Formula {
    /// The variables a formula mentions freely.
    pub fn free_vars(&self, out: &mut Vec<usize>) {
        match self {
            Formula::And(fs) | Formula::Or(fs) => fs.iter().for_each(|f| f.free_vars(out)),
            Formula::Not(f) => f.free_vars(out),
            Formula::Exists(vs, f) | Formula::Forall(vs, f) => {
                let mut inner = Vec::new();
                f.free_vars(&mut inner);
                out.extend(inner.into_iter().filter(|v| !vs.contains(v)));
            }
            Formula::Eq(a, b) => {
                for t in [a, b] {
                    if let Term::Var(v) = t {
                        out.push(*v);
                    }
                }
            }
            Formula::Atom(_, ts) => out.extend(ts.iter().filter_map(|t| match t {
                Term::Var(v) => Some(*v),
                Term::Const(_) => None,
            })),
        }
    }

    /// Visits every atom.
    pub fn atoms<'a>(&'a self, out: &mut Vec<(&'a str, &'a [Term])>) {
        match self {
            Formula::And(fs) | Formula::Or(fs) => fs.iter().for_each(|f| f.atoms(out)),
            Formula::Not(f) | Formula::Exists(_, f) | Formula::Forall(_, f) => f.atoms(out),
            Formula::Eq(..) => {}
            Formula::Atom(p, ts) => out.push((p, ts)),
        }
    }

    /// Whether an `=` appears anywhere (the pick-two goal).
    pub fn has_equality(&self) -> bool {
        match self {
            Formula::And(fs) | Formula::Or(fs) => fs.iter().any(Formula::has_equality),
            Formula::Not(f) | Formula::Exists(_, f) | Formula::Forall(_, f) => f.has_equality(),
            Formula::Eq(..) => true,
            Formula::Atom(..) => false,
        }
    }
}

/// A parsed problem: typed objects, init facts and the goal.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// `(name, type)` in file order.
    pub objects: Vec<(String, String)>,
    /// Ground atoms: predicate and arguments, lower-cased.
    pub init: Vec<(String, Vec<String>)>,
    pub goal: Formula,
    /// Name and type of each goal variable, indexed by [`Term::Var`].
    pub goal_vars: Vec<(String, String)>,
}

/// Splits a typed list `a b - t c - u` into `(name, type)` pairs (untyped: `object`).
fn typed_list(items: &[Sexp]) -> Result<Vec<(String, String)>, PddlError> {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let mut iter = items.iter();
    while let Some(item) = iter.next() {
        let name = item
            .as_atom()
            .ok_or_else(|| PddlError::Malformed("nested list in a typed list".into()))?;
        if name == "-" {
            let ty = iter
                .next()
                .and_then(Sexp::as_atom)
                .ok_or_else(|| PddlError::Malformed("`-` without a type".into()))?;
            out.extend(pending.drain(..).map(|n: String| (n, ty.to_string())));
        } else {
            pending.push(name.to_string());
        }
    }
    out.extend(pending.into_iter().map(|n| (n, "object".to_string())));
    Ok(out)
}

struct GoalBuilder {
    vars: Vec<(String, String)>,
    scope: Vec<(String, usize)>,
}

impl GoalBuilder {
    fn term(&self, atom: &str) -> Term {
        if atom.starts_with('?')
            && let Some((_, i)) = self.scope.iter().rev().find(|(n, _)| n == atom)
        {
            return Term::Var(*i);
        }
        Term::Const(atom.to_string())
    }

    fn build(&mut self, s: &Sexp) -> Result<Formula, PddlError> {
        let list = s
            .as_list()
            .ok_or_else(|| PddlError::Malformed(format!("expected a formula, got {s:?}")))?;
        let Some(head) = s.head() else {
            // `()` is the empty conjunction.
            return Ok(Formula::And(Vec::new()));
        };
        let rest = &list[1..];
        Ok(match head {
            "and" => Formula::And(
                rest.iter()
                    .map(|f| self.build(f))
                    .collect::<Result<_, _>>()?,
            ),
            "or" => Formula::Or(
                rest.iter()
                    .map(|f| self.build(f))
                    .collect::<Result<_, _>>()?,
            ),
            "not" => Formula::Not(Box::new(
                self.build(
                    rest.first()
                        .ok_or_else(|| PddlError::Malformed("empty `not`".into()))?,
                )?,
            )),
            "exists" | "forall" => {
                let [params, body] = rest else {
                    return Err(PddlError::Malformed(format!("bad `{head}`")));
                };
                let params = typed_list(
                    params
                        .as_list()
                        .ok_or_else(|| PddlError::Malformed("bad quantifier".into()))?,
                )?;
                let depth = self.scope.len();
                let mut indices = Vec::new();
                for (name, ty) in params {
                    let i = self.vars.len();
                    self.vars.push((name.clone(), ty));
                    self.scope.push((name, i));
                    indices.push(i);
                }
                let body = self.build(body)?;
                self.scope.truncate(depth);
                // Nested `exists` merge, so the evaluator can prune across all of them.
                match (head, body) {
                    ("exists", Formula::Exists(mut inner, b)) => {
                        indices.append(&mut inner);
                        Formula::Exists(indices, b)
                    }
                    ("exists", b) => Formula::Exists(indices, Box::new(b)),
                    (_, b) => Formula::Forall(indices, Box::new(b)),
                }
            }
            "=" => {
                let [a, b] = rest else {
                    return Err(PddlError::Malformed("`=` needs two terms".into()));
                };
                let (Some(a), Some(b)) = (a.as_atom(), b.as_atom()) else {
                    return Err(PddlError::Malformed("`=` of a list".into()));
                };
                Formula::Eq(self.term(a), self.term(b))
            }
            pred => Formula::Atom(
                pred.to_string(),
                rest.iter()
                    .map(|t| {
                        t.as_atom()
                            .map(|a| self.term(a))
                            .ok_or_else(|| PddlError::Malformed("nested term".into()))
                    })
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// Parses a PDDL problem text.
pub fn parse_problem(text: &str) -> Result<Problem, PddlError> {
    let root = parse_sexp(text)?;
    let sections = root
        .as_list()
        .ok_or_else(|| PddlError::Malformed("the problem is not a list".into()))?;
    let section = |name: &'static str| {
        sections
            .iter()
            .find(|s| s.head() == Some(name))
            .and_then(Sexp::as_list)
            .ok_or(PddlError::MissingSection(name))
    };
    let objects = typed_list(&section(":objects")?[1..])?;
    let mut init = Vec::new();
    for fact in &section(":init")?[1..] {
        let Some(items) = fact.as_list() else {
            continue;
        };
        // `(= (distance a b) 3)` and other numeric fluents carry no state we use.
        let Some(pred) = fact.head() else { continue };
        if pred == "=" {
            continue;
        }
        let args = items[1..]
            .iter()
            .filter_map(|a| a.as_atom().map(str::to_string))
            .collect();
        init.push((pred.to_string(), args));
    }
    let goal_section = section(":goal")?;
    let goal_body = goal_section
        .get(1)
        .ok_or_else(|| PddlError::Malformed("empty :goal".into()))?;
    let mut builder = GoalBuilder {
        vars: Vec::new(),
        scope: Vec::new(),
    };
    let goal = builder.build(goal_body)?;
    Ok(Problem {
        objects,
        init,
        goal,
        goal_vars: builder.vars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_objects_init_and_nested_goal() {
        let p = parse_problem(
            "(define (problem p) (:domain alfred) ; comment (\n\
             (:objects agent1 - agent Apple_bar_1 - object L1 L2 - location AppleType - otype)\n\
             (:init (atLocation agent1 L1) (= (distance L1 L2) 3) (pickupable Apple_bar_1))\n\
             (:goal (and (exists (?r - receptacle) (exists (?o - object) (and (objectType ?o AppleType) (not (= ?o ?r))))))))",
        )
        .unwrap();
        assert_eq!(p.objects[1], ("apple_bar_1".into(), "object".into()));
        assert_eq!(p.objects[3], ("l2".into(), "location".into()));
        assert_eq!(p.init.len(), 2);
        assert_eq!(p.goal_vars.len(), 2);
        let Formula::And(parts) = &p.goal else {
            panic!()
        };
        let Formula::Exists(vars, body) = &parts[0] else {
            panic!()
        };
        assert_eq!(vars, &vec![0, 1]);
        let Formula::And(conj) = body.as_ref() else {
            panic!()
        };
        assert_eq!(
            conj[0],
            Formula::Atom(
                "objecttype".into(),
                vec![Term::Var(1), Term::Const("appletype".into())]
            )
        );
        assert!(p.goal.has_equality());
    }

    #[test]
    fn rejects_broken_text() {
        assert_eq!(
            parse_problem("(define (problem"),
            Err(PddlError::Unbalanced)
        );
        assert_eq!(
            parse_problem("(define)"),
            Err(PddlError::MissingSection(":objects"))
        );
        assert!(parse_problem(")").is_err());
    }
}
