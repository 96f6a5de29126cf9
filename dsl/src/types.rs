//! The types of the language: `bool int float string timestamp duration list<T>`, records
//! `{ name: T, ... }`, and `T?`.

use std::fmt;
use std::sync::Arc;

use smol_str::SmolStr;

use serde::{Deserialize, Serialize};

/// A type without nullability.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Base {
    Bool,
    Int,
    Float,
    String,
    Timestamp,
    Duration,
    List(Box<Type>),
    /// A record of named fields: `{ id: int, name: string? }`.
    Record(RecordType),
    /// Any JSON value, kept as its compact text.
    Json,
    /// The type of the literal `null` before it meets another type.
    Null,
}

/// The fields of a record type, and their names shared by every value of the type (a record
/// value carries them, so that it writes itself as JSON without its type at hand).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RecordType {
    pub fields: Vec<Field>,
    names: Arc<[SmolStr]>,
}

impl RecordType {
    pub fn new(fields: Vec<Field>) -> RecordType {
        let names = fields.iter().map(|f| SmolStr::new(&f.name)).collect();
        RecordType { fields, names }
    }

    /// The field names, to build values with (`Value::record`).
    pub fn names(&self) -> &Arc<[SmolStr]> {
        &self.names
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }
}

/// A type: a base type and whether `null` is allowed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Type {
    pub base: Base,
    pub nullable: bool,
}

impl Type {
    pub const fn new(base: Base) -> Type {
        Type { base, nullable: false }
    }
    pub const BOOL: Type = Type::new(Base::Bool);
    pub const INT: Type = Type::new(Base::Int);
    pub const FLOAT: Type = Type::new(Base::Float);
    pub const STRING: Type = Type::new(Base::String);
    pub const TIMESTAMP: Type = Type::new(Base::Timestamp);
    pub const DURATION: Type = Type::new(Base::Duration);
    pub const JSON: Type = Type::new(Base::Json);
    pub const NULL: Type = Type { base: Base::Null, nullable: true };
    /// The element type of an empty list: it fits in a list of anything.
    pub const NOTHING: Type = Type { base: Base::Null, nullable: false };

    pub fn list(elem: Type) -> Type {
        Type::new(Base::List(Box::new(elem)))
    }

    pub fn record(fields: Vec<Field>) -> Type {
        Type::new(Base::Record(RecordType::new(fields)))
    }

    pub fn nullable(mut self) -> Type {
        self.nullable = true;
        self
    }

    pub fn non_null(mut self) -> Type {
        self.nullable = matches!(self.base, Base::Null);
        self
    }

    pub fn with_nullable(mut self, nullable: bool) -> Type {
        self.nullable = nullable || matches!(self.base, Base::Null);
        self
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self.base, Base::Int | Base::Float)
    }

    /// The common type of two types, if values of both fit in it (`int` widens to `float`,
    /// `null` to anything nullable).
    pub fn unify(&self, other: &Type) -> Option<Type> {
        let nullable = self.nullable || other.nullable;
        let base = match (&self.base, &other.base) {
            (Base::Null, b) | (b, Base::Null) => b.clone(),
            (a, b) if a == b => a.clone(),
            (Base::Int, Base::Float) | (Base::Float, Base::Int) => Base::Float,
            (Base::List(a), Base::List(b)) => Base::List(Box::new(a.unify(b)?)),
            (Base::Record(a), Base::Record(b)) if a.names == b.names => {
                let fields = a.fields.iter().zip(&b.fields);
                let unified = fields.map(|(x, y)| Some(Field { name: x.name.clone(), ty: x.ty.unify(&y.ty)? }));
                Base::Record(RecordType::new(unified.collect::<Option<Vec<_>>>()?))
            }
            _ => return None,
        };
        Some(Type { base, nullable })
    }

    /// Whether a value of type `self` may be stored where `target` is expected.
    pub fn fits(&self, target: &Type) -> bool {
        if self.nullable && !target.nullable {
            return false;
        }
        match (&self.base, &target.base) {
            (Base::Null, _) => true,
            (Base::Int, Base::Float) => true,
            (Base::List(a), Base::List(b)) => a.fits(b),
            (Base::Record(a), Base::Record(b)) => {
                a.names == b.names && a.fields.iter().zip(&b.fields).all(|(x, y)| x.ty.fits(&y.ty))
            }
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.base {
            Base::Bool => f.write_str("bool")?,
            Base::Int => f.write_str("int")?,
            Base::Float => f.write_str("float")?,
            Base::String => f.write_str("string")?,
            Base::Timestamp => f.write_str("timestamp")?,
            Base::Duration => f.write_str("duration")?,
            Base::Json => f.write_str("json")?,
            Base::List(t) => write!(f, "list<{t}>")?,
            Base::Record(r) => write!(f, "{}", Schema::new(r.fields.clone()))?,
            Base::Null => return f.write_str("null"),
        }
        if self.nullable {
            f.write_str("?")?;
        }
        Ok(())
    }
}

/// A named, typed field of a schema.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
}

/// The fields of a record, in order: a row holds their values at the same positions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Schema {
        Schema { fields }
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, " {}: {}", field.name, field.ty)?;
        }
        f.write_str(" }")
    }
}
