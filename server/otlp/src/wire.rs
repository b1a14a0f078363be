//! Counts the items of a protobuf request from its wire format, before decoding it.
//!
//! A decoded message takes far more memory than its wire form: an empty span is 2 bytes on
//! the wire and about 300 in memory. Counting spans, data points or log records first, without
//! allocating, lets a request with too many of them be refused before it is decoded.

/// Field numbers leading from an `Export*ServiceRequest` to its items: at each level, the
/// length-delimited fields to descend into.
pub(crate) const SPANS: &[&[u32]] = &[&[1], &[2], &[2]];
/// resource_metrics → scope_metrics → metrics → gauge/sum/histogram/exponential/summary →
/// data_points
pub(crate) const DATA_POINTS: &[&[u32]] = &[&[1], &[2], &[2], &[5, 7, 9, 10, 11], &[1]];
/// resource_logs → scope_logs → log_records
pub(crate) const LOG_RECORDS: &[&[u32]] = &[&[1], &[2], &[2]];

/// How many messages sit at the end of `path` in `buf`. Fails on a malformed wire format
/// (truncated varint or field, group wire types, which OTLP never uses).
pub(crate) fn count_items(buf: &[u8], path: &[&[u32]]) -> Result<usize, String> {
    let Some((wanted, rest)) = path.split_first() else {
        return Ok(1);
    };
    let mut count = 0usize;
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = key >> 3;
        match key & 7 {
            0 => {
                varint(buf, &mut pos)?;
            }
            1 => pos = skip(buf, pos, 8)?,
            5 => pos = skip(buf, pos, 4)?,
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?)
                    .map_err(|_| "length does not fit in memory".to_owned())?;
                let end = skip(buf, pos, len)?;
                if wanted.iter().any(|w| u64::from(*w) == field) {
                    count = count.saturating_add(count_items(&buf[pos..end], rest)?);
                }
                pos = end;
            }
            wire_type => {
                return Err(format!(
                    "unsupported wire type {wire_type} for field {field}"
                ))
            }
        }
    }
    Ok(count)
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(|| "truncated varint".to_owned())?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".to_owned())
}

fn skip(buf: &[u8], pos: usize, len: usize) -> Result<usize, String> {
    pos.checked_add(len)
        .filter(|end| *end <= buf.len())
        .ok_or_else(|| "truncated field".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nested_items_and_skips_other_fields() {
        // request { resource_spans { resource {..} scope_spans { spans {} spans {} } scope_spans { spans {} } } }
        let scope_a = [0x12, 0x00, 0x12, 0x00, 0x1a, 0x01, b'u']; // two spans and a schema_url
        let scope_b = [0x12, 0x00];
        let mut rs = vec![0x0a, 0x00]; // empty resource
        rs.push(0x12);
        rs.push(scope_a.len() as u8);
        rs.extend_from_slice(&scope_a);
        rs.push(0x12);
        rs.push(scope_b.len() as u8);
        rs.extend_from_slice(&scope_b);
        let mut request = vec![0x0a, rs.len() as u8];
        request.extend_from_slice(&rs);
        // unknown varint and fixed fields at the top level are skipped
        request.extend_from_slice(&[0x78, 0x96, 0x01, 0x81, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(count_items(&request, SPANS), Ok(3));
        assert_eq!(count_items(&[], SPANS), Ok(0));
    }

    #[test]
    fn malformed_wire_is_an_error() {
        assert!(count_items(&[0x0a, 0x05, 0x00], SPANS).is_err()); // truncated field
        assert!(count_items(&[0x08], SPANS).is_err()); // truncated varint
        assert!(count_items(&[0x0b], SPANS).is_err()); // group
        assert!(count_items(
            &[0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            SPANS
        )
        .is_err());
    }
}
