//! Expressions compiled once into closures over a row. Evaluation is total: a division by
//! zero, an overflow or an invalid cast gives `null`; nothing here panics on data.

use std::cmp::Ordering;

use crate::functions::Function;
use crate::plan::{Arith, Cmp, Expr};
use crate::time;
use crate::value::Value;

/// A compiled expression.
pub type Eval = Box<dyn Fn(&[Value]) -> Value>;

/// Compiles `expr` into a closure; the closure's input is a row of the expression's input schema.
pub fn compile(expr: &Expr) -> Eval {
    match expr {
        Expr::Lit(v) => {
            let v = v.clone();
            Box::new(move |_| v.clone())
        }
        Expr::Field(i) => {
            let i = *i;
            Box::new(move |row| row.get(i).cloned().unwrap_or(Value::Null))
        }
        Expr::List(items) => {
            if let Some(list) = constant_list(items) {
                return Box::new(move |_| list.clone());
            }
            let items: Vec<Eval> = items.iter().map(compile).collect();
            Box::new(move |row| Value::List(items.iter().map(|e| e(row)).collect()))
        }
        Expr::Neg(e) => {
            let e = compile(e);
            Box::new(move |row| match e(row) {
                Value::Int(i) => i.checked_neg().map_or(Value::Null, Value::Int),
                Value::Float(f) => Value::float(-f.get()),
                Value::Duration(d) => d.checked_neg().map_or(Value::Null, Value::Duration),
                _ => Value::Null,
            })
        }
        Expr::Not(e) => {
            let e = compile(e);
            Box::new(move |row| match e(row) {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            })
        }
        Expr::Arith(op, a, b) => {
            let (op, a, b) = (*op, compile(a), compile(b));
            Box::new(move |row| arith(op, &a(row), &b(row)))
        }
        Expr::Compare(op, a, b) => {
            let (op, a, b) = (*op, compile(a), compile(b));
            Box::new(move |row| compare(op, &a(row), &b(row)))
        }
        Expr::And(a, b) => {
            let (a, b) = (compile(a), compile(b));
            // Three-valued: false wins over null.
            Box::new(move |row| match a(row) {
                Value::Bool(false) => Value::Bool(false),
                x => match (x, b(row)) {
                    (_, Value::Bool(false)) => Value::Bool(false),
                    (Value::Bool(true), Value::Bool(true)) => Value::Bool(true),
                    _ => Value::Null,
                },
            })
        }
        Expr::Or(a, b) => {
            let (a, b) = (compile(a), compile(b));
            // Three-valued: true wins over null.
            Box::new(move |row| match a(row) {
                Value::Bool(true) => Value::Bool(true),
                x => match (x, b(row)) {
                    (_, Value::Bool(true)) => Value::Bool(true),
                    (Value::Bool(false), Value::Bool(false)) => Value::Bool(false),
                    _ => Value::Null,
                },
            })
        }
        Expr::Get { record, index, .. } => {
            let (record, index) = (compile(record), *index);
            Box::new(move |row| match record(row) {
                Value::Record(r) => r.values.get(index).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            })
        }
        Expr::Record { names, values } => {
            let (names, values): (_, Vec<Eval>) = (names.clone(), values.iter().map(compile).collect());
            Box::new(move |row| Value::record(&names, values.iter().map(|v| v(row)).collect()))
        }
        Expr::Index(list, index) => {
            let (list, index) = (compile(list), compile(index));
            Box::new(move |row| match (list(row), index(row)) {
                (Value::List(items), Value::Int(i)) => {
                    let at = if i < 0 { i.checked_add(items.len() as i64) } else { Some(i) };
                    at.and_then(|at| usize::try_from(at).ok())
                        .and_then(|at| items.get(at).cloned())
                        .unwrap_or(Value::Null)
                }
                _ => Value::Null,
            })
        }
        Expr::Concat(a, b) => {
            let (a, b) = (compile(a), compile(b));
            Box::new(move |row| match (a(row), b(row)) {
                (Value::Str(x), Value::Str(y)) => {
                    let mut s = String::with_capacity(x.len() + y.len());
                    s.push_str(&x);
                    s.push_str(&y);
                    Value::Str(s.into())
                }
                _ => Value::Null,
            })
        }
        Expr::In { expr, list, negated } => {
            let (e, negated) = (compile(expr), *negated);
            let within = move |x: Value, items: &[Value]| {
                if x.is_null() {
                    return Value::Null;
                }
                let found = items.iter().any(|y| compare(Cmp::Eq, &x, y) == Value::Bool(true));
                if !found && items.iter().any(Value::is_null) {
                    // SQL: `2 in [1, null]` is unknown.
                    return Value::Null;
                }
                Value::Bool(found != negated)
            };
            // A list of literals (`state in ["OR", "CA"]`) is made once, not per record.
            if let Expr::List(items) = &**list {
                if let Some(Value::List(items)) = constant_list(items) {
                    return Box::new(move |row| within(e(row), &items));
                }
            }
            let list = compile(list);
            Box::new(move |row| match list(row) {
                Value::List(items) => within(e(row), &items),
                _ => Value::Null,
            })
        }
        Expr::IsNull { expr, negated } => {
            let (e, negated) = (compile(expr), *negated);
            Box::new(move |row| Value::Bool(e(row).is_null() != negated))
        }
        Expr::If { cond, then, otherwise } => {
            let (c, t, o) = (compile(cond), compile(then), compile(otherwise));
            Box::new(move |row| if c(row) == Value::Bool(true) { t(row) } else { o(row) })
        }
        Expr::Call { func, args } => compile_call(func, args),
    }
}

/// The value of a list whose items are all literals.
fn constant_list(items: &[Expr]) -> Option<Value> {
    let values = items.iter().map(|e| match e {
        Expr::Lit(v) => Some(v.clone()),
        _ => None,
    });
    Some(Value::List(values.collect::<Option<Vec<Value>>>()?.into()))
}

fn compile_call(func: &Function, args: &[Expr]) -> Eval {
    // A constant pattern is compiled once, when the call is (once per worker), not per record;
    // one that does not compile (check rejects it; a plan built by hand may not) gives null
    // without being compiled again for every record.
    if let (Function::Builtin(b), Some(Expr::Lit(Value::Str(p)))) = (func, args.get(1)) {
        if b.takes_pattern() {
            let (b, re) = (*b, crate::functions::regex(p).ok());
            let rest: Vec<Eval> = args.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, e)| compile(e)).collect();
            return Box::new(move |row| match &re {
                Some(re) => b.with_regex(re, &rest.iter().map(|e| e(row)).collect::<Vec<_>>()),
                None => Value::Null,
            });
        }
    }
    let compiled: Vec<Eval> = args.iter().map(compile).collect();
    match func {
        Function::Builtin(b) => {
            let b = *b;
            Box::new(move |row| {
                let values: Vec<Value> = compiled.iter().map(|e| e(row)).collect();
                b.call(&values)
            })
        }
        Function::Udf(udf) => {
            let udf = udf.clone();
            Box::new(move |row| {
                let values: Vec<Value> = compiled.iter().map(|e| e(row)).collect();
                (udf.imp)(&values)
            })
        }
    }
}

/// Evaluates an expression without input (constant folding, connector arguments).
pub fn eval_const(expr: &Expr) -> Value {
    compile(expr)(&[])
}

fn arith(op: Arith, a: &Value, b: &Value) -> Value {
    use Value::*;
    let int = |r: Option<i64>| r.map_or(Null, Int);
    match (a, b) {
        (Int(x), Int(y)) => int(match op {
            Arith::Add => x.checked_add(*y),
            Arith::Sub => x.checked_sub(*y),
            Arith::Mul => x.checked_mul(*y),
            Arith::Div => x.checked_div(*y),
            Arith::Rem => x.checked_rem(*y),
        }),
        // A timestamp outside the range Eddy can write and read back is null.
        (Timestamp(t), Duration(d)) => match op {
            Arith::Add => t.checked_add(*d).and_then(time::checked_timestamp).map_or(Null, Timestamp),
            Arith::Sub => t.checked_sub(*d).and_then(time::checked_timestamp).map_or(Null, Timestamp),
            _ => Null,
        },
        (Duration(d), Timestamp(t)) if op == Arith::Add => {
            t.checked_add(*d).and_then(time::checked_timestamp).map_or(Null, Timestamp)
        }
        (Timestamp(x), Timestamp(y)) if op == Arith::Sub => x.checked_sub(*y).map_or(Null, Duration),
        (Duration(x), Duration(y)) => match op {
            Arith::Add => x.checked_add(*y).map_or(Null, Duration),
            Arith::Sub => x.checked_sub(*y).map_or(Null, Duration),
            Arith::Div => int(x.checked_div(*y)),
            Arith::Rem => x.checked_rem(*y).map_or(Null, Duration),
            Arith::Mul => Null,
        },
        (Duration(d), Int(n)) | (Int(n), Duration(d)) if op == Arith::Mul => d.checked_mul(*n).map_or(Null, Duration),
        (Duration(d), Int(n)) if op == Arith::Div => d.checked_div(*n).map_or(Null, Duration),
        _ => match (a.as_float(), b.as_float()) {
            (Some(x), Some(y)) => {
                if matches!(op, Arith::Div | Arith::Rem) && y == 0.0 {
                    return Null;
                }
                Value::float(match op {
                    Arith::Add => x + y,
                    Arith::Sub => x - y,
                    Arith::Mul => x * y,
                    Arith::Div => x / y,
                    Arith::Rem => x % y,
                })
            }
            _ => Null,
        },
    }
}

/// Compares two values; `null` on either side gives `null`. Ints and floats compare as numbers.
pub fn compare(op: Cmp, a: &Value, b: &Value) -> Value {
    let ord = match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return Value::Null,
        (Value::Int(x), Value::Float(y)) => (*x as f64).partial_cmp(&y.get()),
        (Value::Float(x), Value::Int(y)) => x.get().partial_cmp(&(*y as f64)),
        (x, y) => Some(x.cmp(y)),
    };
    let Some(ord) = ord else { return Value::Bool(op == Cmp::Ne) };
    Value::Bool(match op {
        Cmp::Eq => ord == Ordering::Equal,
        Cmp::Ne => ord != Ordering::Equal,
        Cmp::Lt => ord == Ordering::Less,
        Cmp::Le => ord != Ordering::Greater,
        Cmp::Gt => ord == Ordering::Greater,
        Cmp::Ge => ord != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Box<Expr> {
        Box::new(Expr::Lit(v))
    }

    #[test]
    fn arithmetic_is_total() {
        let div = Expr::Arith(Arith::Div, lit(Value::Int(7)), lit(Value::Int(0)));
        assert_eq!(eval_const(&div), Value::Null);
        let div = Expr::Arith(Arith::Div, lit(Value::Int(7)), lit(Value::Int(2)));
        assert_eq!(eval_const(&div), Value::Int(3));
        let mixed = Expr::Arith(Arith::Mul, lit(Value::Int(1000)), lit(Value::float(0.908)));
        assert_eq!(eval_const(&mixed), Value::float(908.0));
        let over = Expr::Arith(Arith::Add, lit(Value::Int(i64::MAX)), lit(Value::Int(1)));
        assert_eq!(eval_const(&over), Value::Null);
        let list = || lit(Value::List(vec![Value::Int(10), Value::Int(20), Value::Int(30)].into()));
        let at = |i: i64| eval_const(&Expr::Index(list(), lit(Value::Int(i))));
        assert_eq!([at(0), at(2), at(-1), at(-3)], [10, 30, 30, 10].map(Value::Int));
        assert_eq!([at(3), at(-4), at(i64::MIN), at(i64::MAX)], [Value::Null, Value::Null, Value::Null, Value::Null]);
        let ts = Expr::Arith(Arith::Add, lit(Value::Timestamp(1000)), lit(Value::Duration(500)));
        assert_eq!(eval_const(&ts), Value::Timestamp(1500));
    }

    #[test]
    fn three_valued_logic() {
        let and = Expr::And(lit(Value::Null), lit(Value::Bool(false)));
        assert_eq!(eval_const(&and), Value::Bool(false));
        let or = Expr::Or(lit(Value::Null), lit(Value::Bool(false)));
        assert_eq!(eval_const(&or), Value::Null);
        assert_eq!(compare(Cmp::Lt, &Value::Int(1), &Value::float(1.5)), Value::Bool(true));
        assert_eq!(compare(Cmp::Eq, &Value::Null, &Value::Null), Value::Null);
        let list = lit(Value::List(vec![Value::Int(1), Value::Null].into()));
        let not_in = Expr::In { expr: lit(Value::Int(2)), list, negated: true };
        assert_eq!(eval_const(&not_in), Value::Null);
    }
}
