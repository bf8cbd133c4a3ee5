"""Training machinery: state pytree, pure steps, the fit/evaluate/predict loops."""
