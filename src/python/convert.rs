//! JSON values ↔ Python objects, walked directly (no `json.dumps`/`loads` round trip).

use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::client::RequestOptions;
use crate::python::errors::config_error;

pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => object_to_py(py, map)?.into_any(),
    })
}

/// A JSON value handed to Python as plain objects (converted where the GIL is held).
pub struct JsonValue(pub Value);

impl From<crate::client::tasks::Task> for JsonValue {
    fn from(task: crate::client::tasks::Task) -> Self {
        JsonValue(serde_json::to_value(&task).unwrap_or_default())
    }
}

impl<'py> IntoPyObject<'py> for JsonValue {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.0)
    }
}

pub fn object_to_py<'py>(py: Python<'py>, map: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, json_to_py(py, v)?)?;
    }
    Ok(dict)
}

pub fn py_to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_json(obj, &mut String::from("$"), 0)
}

/// A dict of arguments (or None) as a JSON object.
pub fn py_to_object(obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Map<String, Value>>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match py_to_json(o)? {
            Value::Object(map) => Ok(Some(map)),
            _ => Err(PyTypeError::new_err(format!("{what} must be a dict, not {}", type_name(o)))),
        },
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

fn to_json(obj: &Bound<'_, PyAny>, path: &mut String, depth: usize) -> PyResult<Value> {
    if depth > 200 {
        return Err(PyTypeError::new_err(format!("value at {path} is nested too deeply (or contains itself)")));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: True is an int in Python.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        return Err(PyTypeError::new_err(format!("integer at {path} does not fit in 64 bits")));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| PyTypeError::new_err(format!("float at {path} is not finite; JSON has no NaN or infinity")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("dict keys must be str; found {} at {path}", type_name(&k))))?
                .to_str()?
                .to_owned();
            let len = path.len();
            path.push('.');
            path.push_str(&key);
            let value = to_json(&v, path, depth + 1)?;
            path.truncate(len);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let mut items = Vec::with_capacity(obj.len()?);
        for (i, item) in obj.try_iter()?.enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(to_json(&item?, path, depth + 1)?);
            path.truncate(len);
        }
        return Ok(Value::Array(items));
    }
    // pydantic models and dataclass-like objects that know how to become plain data.
    if let Ok(dump) = obj.getattr("model_dump") {
        let plain = dump.call((), Some(&[("mode", "json")].into_py_dict_bound(obj.py())?))?;
        return to_json(&plain, path, depth + 1);
    }
    Err(PyTypeError::new_err(format!(
        "value at {path} of type {} cannot be sent as JSON (use dict, list, str, int, float, bool or None)",
        type_name(obj)
    )))
}

trait IntoPyDictBound {
    fn into_py_dict_bound<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>>;
}

impl IntoPyDictBound for &[(&str, &str)] {
    fn into_py_dict_bound<'py>(self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}

/// Seconds from Python as a Duration: positive, finite and at most a day, or `ConfigError`
/// (a `ValueError`), never a panic.
/// A request's `timeout=` and `meta=` keywords.
pub fn request_options(timeout: Option<f64>, meta: Option<&Bound<'_, PyAny>>) -> PyResult<RequestOptions> {
    Ok(RequestOptions { timeout: opt_seconds(timeout, "timeout")?, meta: py_to_object(meta, "meta")?, progress: None })
}

pub fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    match crate::util::duration::seconds(what, value, 0.0, crate::util::duration::MAX_WAIT_SECS) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(config_error(format!("{what} must be a positive number of seconds up to {}, not {value}", crate::util::duration::MAX_WAIT_SECS))),
    }
}

/// Like [`seconds`], but 0 is allowed.
pub fn seconds_or_zero(value: f64, what: &str) -> PyResult<Duration> {
    crate::util::duration::seconds(what, value, 0.0, crate::util::duration::MAX_WAIT_SECS).map_err(|e| config_error(e.to_string()))
}

pub fn opt_seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    value.map(|v| seconds(v, what)).transpose()
}
