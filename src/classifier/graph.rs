//! Small questions about a decluttered tract graph that the op substitutions ask.

use tract_onnx::prelude::*;

/// The values of an f32 tensor held in plain memory.
pub fn floats(t: &Tensor) -> TractResult<&[f32]> {
    t.try_as_plain_ram()?.as_slice::<f32>()
}

/// The `Min(6)` node ending a `Max(0) -> Min(6)` chain (ONNX `Clip(0, 6)` after decluttering) that
/// is the only reader of node `id`'s output, if there is one.
pub fn relu6_after(model: &TypedModel, id: usize) -> TractResult<Option<usize>> {
    let Some(max) = sole_reader(model, id) else { return Ok(None) };
    if max.op.name() != "Max" || !other_input_is(model, max, id, 0.0)? {
        return Ok(None);
    }
    let Some(min) = sole_reader(model, max.id) else { return Ok(None) };
    if min.op.name() != "Min" || !other_input_is(model, min, max.id, 6.0)? {
        return Ok(None);
    }
    Ok(Some(min.id))
}

/// When `outlet` ends a ReLU6 chain ([`relu6_after`] of the node before it) that only node
/// `reader` reads: the chain's input, which `reader` can clamp itself.
pub fn relu6_before(model: &TypedModel, outlet: OutletId, reader: usize) -> TractResult<Option<OutletId>> {
    if sole_reader(model, outlet.node).is_none_or(|n| n.id != reader) {
        return Ok(None);
    }
    // Back two nodes (`Min`, then `Max`) along their one computed input.
    let computed_input = |id: usize| model.nodes()[id].inputs.iter().find(|i| model.outlet_fact(**i).is_ok_and(|f| f.konst.is_none())).copied();
    let Some(x) = computed_input(outlet.node).and_then(|max| computed_input(max.node)) else { return Ok(None) };
    Ok((relu6_after(model, x.node)? == Some(outlet.node)).then_some(x))
}

/// The node reading node `id`'s only output, when it is the only reader and `id` is not a model
/// output.
pub fn sole_reader(model: &TypedModel, id: usize) -> Option<&TypedNode> {
    let outlet = OutletId::new(id, 0);
    let readers = model.outlet_successors(outlet);
    if model.nodes()[id].outputs.len() != 1 || readers.len() != 1 || model.output_outlets().ok()?.contains(&outlet) {
        return None;
    }
    Some(&model.nodes()[readers[0].node])
}

/// Whether the binary node `node`'s input other than `from`'s output is a constant with every
/// value equal to `v` (a broadcast scalar).
pub fn other_input_is(model: &TypedModel, node: &TypedNode, from: usize, v: f32) -> TractResult<bool> {
    if node.inputs.len() != 2 {
        return Ok(false);
    }
    let other = if node.inputs[0].node == from { node.inputs[1] } else { node.inputs[0] };
    let Some(k) = model.outlet_fact(other)?.konst.clone() else { return Ok(false) };
    let out_shape = model.outlet_fact(OutletId::new(node.id, 0))?.shape.clone();
    let in_shape = model.outlet_fact(OutletId::new(from, 0))?.shape.clone();
    Ok(k.datum_type() == f32::datum_type() && out_shape == in_shape && floats(&k)?.iter().all(|x| *x == v))
}
