"""Many training runs of one architecture in one step: :func:`train_many`.

The runs' weights are stacked along a new first dimension (``torch.func.stack_module_state``) and one vmapped forward
and backward serves them all, so a GPU launches each kernel once for N models instead of N times (a 240-unit maxout
step is bound by its launches, not its arithmetic). Each run keeps what it has alone — its seed, its batch order, its
dropout masks, its schedules, its early stopping and its continued phase — and a run that stops leaves the stack.

Written here because no maintained library trains a stack of *independent* runs: torch.func gives the stacking and
``vmap``, but ``vmap(randomness="different")`` draws every run's dropout from one shared stream, so a run would depend
on its stack-mates. Here each run's masks come from its own generator, drawn in the order :func:`training.train`
draws them from the global one, so on a CPU a stacked run sees bitwise the masks and batches it sees alone and
differs from it only by the batched kernels' rounding (``tests/test_stacking.py`` measures how much, beside the
seed-to-seed spread). On a GPU, alone runs use the fused dropout kernel, whose masks these are not.

Scope: models whose only randomness is ``nn.Dropout`` (the MNIST maxouts, softmax and logistic regression), the
naive objective and the paper's adversarial one (its FGSM point in eval mode, or with dropout: ``adv_dropout``), L1
on the first layer, weight decay, max-norm, both schedules, early stopping on the validation error (clean or FGSM)
and the continued phase's ``match`` rule. Anything else is refused with one line.
"""
import copy
import dataclasses
import os
import time

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from . import checkpoints, data, models, training
from .progress import bar as progress_bar

_SHARED = ("batch_size", "adv_alpha", "adv_eps", "adv_clip", "adv_kind", "adv_dropout", "max_col_norm", "augment_padding",
           "augment_flip", "val_adv_eps", "val_adv_kind", "snapshot_epochs", "allow_tf32")


class _MaskedDropout(nn.Module):
    """Dropout whose (scaled) mask is passed in as the buffer ``mask``, one per run under vmap; identity in eval mode."""

    def __init__(self, p):
        super().__init__()
        self.p = p
        self.register_buffer("mask", torch.ones(()), persistent=False)

    def forward(self, x):
        return x * self.mask if self.training else x


def supported(config):
    """Whether runs of ``config`` can train stacked (the scope in this module's docstring)."""
    return ((config.adv_alpha is None or config.adv_kind == "fgsm")
            and not (config.snapshot_epochs or config.augment_padding or config.augment_flip or config.compile_step))


def _check(runs, configs):
    if len({tuple((k, v.shape) for k, v in m.state_dict().items()) for m in runs}) != 1:
        raise ValueError("train_many stacks runs of one architecture: these models' weights differ in shape")
    for name in _SHARED:
        if len({repr(getattr(c, name)) for c in configs}) != 1:
            raise ValueError(f"train_many: every run of a stack needs the same {name}")
    config = configs[0]
    if config.adv_alpha is not None and config.adv_kind != "fgsm":
        raise ValueError(f"train_many supports the naive objective and FGSM, not adv_kind={config.adv_kind!r}")
    if config.snapshot_epochs or config.augment_padding or config.augment_flip or config.compile_step:
        raise ValueError("train_many: snapshots, augmentation and compile_step are for runs trained alone")
    if any(True for _ in runs[0].buffers()):
        raise ValueError("train_many: a model with buffers (batch norm's statistics, say) trains alone")
    if any(hasattr(m, "training_loss") for m in runs) or any(
            isinstance(m, nn.modules.dropout._DropoutNd) and not isinstance(m, nn.Dropout) for m in runs[0].modules()):
        raise ValueError("train_many: a model with its own objective or another dropout kind trains alone")


def _template(model):
    """A weightless copy of ``model`` whose dropout layers read their masks from buffers (``functional_call``'s)."""
    template = copy.deepcopy(model).to("meta")
    for parent in list(template.modules()):
        for name, child in parent.named_children():
            if isinstance(child, nn.Dropout):
                setattr(parent, name, _MaskedDropout(child.p))
    return template


class _Stack:
    """The weights, momentum buffers and random streams of the runs still training."""

    def __init__(self, runs, configs, device):
        self.indices = list(range(len(runs)))
        params, _ = stack_module_state(runs)
        self.params = {k: v.detach().to(device).requires_grad_(True) for k, v in params.items()}
        self.buffers = {k: torch.zeros_like(v) for k, v in self.params.items()}
        # per run: has its momentum buffer started (torch's SGD starts it, as a copy of the gradient, at the first step
        # with a non-zero momentum)
        self.started = [False] * len(runs)
        # each run's streams, seeded as train() seeds them: the order from a CPU generator, dropout from the global one
        self.shuffle = [torch.Generator().manual_seed(c.seed) for c in configs]
        self.dropout = [torch.Generator(device=device).manual_seed(c.seed) for c in configs]

    def keep(self, positions):
        """Keep the runs at ``positions`` (of the current stack) and drop the others."""
        index = torch.tensor(positions, dtype=torch.long, device=next(iter(self.params.values())).device)
        self.params = {k: v.detach()[index].requires_grad_(True) for k, v in self.params.items()}
        self.buffers = {k: v[index] for k, v in self.buffers.items()}
        self.indices = [self.indices[p] for p in positions]
        self.started = [self.started[p] for p in positions]
        self.shuffle = [self.shuffle[p] for p in positions]
        self.dropout = [self.dropout[p] for p in positions]

    def state(self):
        return {"indices": self.indices, "started": self.started,  # (with every run's weights: see train_many)
                "params": {k: v.detach().cpu() for k, v in self.params.items()},
                "buffers": {k: v.cpu() for k, v in self.buffers.items()},
                "shuffle": [g.get_state() for g in self.shuffle], "dropout": [g.get_state() for g in self.dropout]}

    def restore(self, state, device):
        self.indices, self.started = state["indices"], state["started"]
        self.params = {k: v.to(device).requires_grad_(True) for k, v in state["params"].items()}
        self.buffers = {k: v.to(device) for k, v in state["buffers"].items()}
        self.shuffle, self.dropout = self.shuffle[:len(self.indices)], self.dropout[:len(self.indices)]
        for generator, saved in zip(self.shuffle + self.dropout, state["shuffle"] + state["dropout"], strict=True):
            generator.set_state(saved)

    def write_back(self, runs):
        with torch.no_grad():
            for position, run in enumerate(self.indices):
                for name, param in runs[run].named_parameters():
                    param.copy_(self.params[name][position])


def _dropout_layers(template, sample):
    """``[(buffer name, p, feature shape)]`` of the template's dropout layers in the order a forward meets them."""
    found = []
    names = {module: name for name, module in template.named_modules()}
    hooks = [m.register_forward_pre_hook(lambda m, args: found.append((f"{names[m]}.mask", m.p, args[0].shape[1:])))
             for m in template.modules() if isinstance(m, _MaskedDropout)]
    template.train()(sample.to("meta"))
    for hook in hooks:
        hook.remove()
    return found


def _masks(stack, layers, batch, device, forwards):
    """Each run's dropout masks for ``forwards`` forward passes, drawn from its own generator as ``F.dropout`` draws
    them from the global one (``empty_like(x).bernoulli_(1 - p)``, divided by ``1 - p``), pass after pass."""
    per_pass = [{name: [] for name, _, _ in layers} for _ in range(forwards)]
    for generator in stack.dropout:
        for masks in per_pass:
            for name, p, shape in layers:
                noise = torch.empty((batch, *shape), device=device).bernoulli_(1 - p, generator=generator)
                masks[name].append(noise.div_(1 - p))
    return [{name: torch.stack(m) for name, m in masks.items()} for masks in per_pass]


def _losses(template, outputs, y):
    return torch.stack([models.loss(template, out, target) for out, target in zip(outputs, y, strict=True)])


def _step_losses(template, forward, stack, x, y, configs, layers, l1s):
    """Every run's objective on its own batch (``x``: runs x batch x ...), as :func:`training._objective` computes it."""
    config = configs[stack.indices[0]]
    adversarial = config.adv_alpha is not None
    dropout_fgsm = adversarial and config.adv_dropout  # its FGSM pass draws masks too, first (perturb() runs first)
    masks = iter(_masks(stack, layers, x.shape[1], x.device, (1 + adversarial + dropout_fgsm)))
    x_adv = None
    if adversarial:  # the FGSM point of each run from the summed loss, as attacks.fgsm: in eval mode (no masks), or
        # with adv_dropout in training mode (its own masks)
        template.train(dropout_fgsm)
        x_in = x.detach().clone().requires_grad_(True)
        detached = {k: v.detach() for k, v in stack.params.items()}
        if dropout_fgsm:
            out = torch.vmap(forward)(detached, next(masks), x_in)
        else:
            out = torch.vmap(forward, in_dims=(0, None, 0))(detached, {}, x_in)
        summed = sum(models.loss(template, o, t, reduction="sum") for o, t in zip(out, y, strict=True))
        (grad,) = torch.autograd.grad(summed, x_in)
        x_adv = x + config.adv_eps * grad.sign()
        if config.adv_clip is not None:
            x_adv = x_adv.clamp(*config.adv_clip)
    template.train()
    outputs = torch.vmap(forward)(stack.params, next(masks), x)
    losses = _losses(template, outputs, y)
    if adversarial:
        adv = _losses(template, torch.vmap(forward)(stack.params, next(masks), x_adv), y)
        losses = config.adv_alpha * losses + (1 - config.adv_alpha) * adv
    if l1s is not None:  # each run's L1 coefficient (a device tensor: no read of the device per step)
        first = next(n for n, m in template.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d)))
        losses = losses + l1s * stack.params[f"{first}.weight"].abs().flatten(1).sum(1)
    return losses, outputs


def _sgd(stack, lrs, carried, weight_decays, lr_scales):
    """torch.optim.SGD's update (momentum, no dampening or Nesterov), each run at its own rate, momentum and decay.
    ``carried``: per run, its momentum where its buffer has started, else 0 (the buffer becomes the gradient, as
    torch's first momentum step copies it; with a momentum of 0 the update is the gradient itself, as in torch);
    ``weight_decays``: a device tensor, or None where no run has any."""
    with torch.no_grad():
        for name, param in stack.params.items():
            shape = (-1,) + (1,) * (param.dim() - 1)
            grad = param.grad
            if weight_decays is not None:
                grad = grad + weight_decays.view(shape) * param
            stack.buffers[name].mul_(carried.view(shape)).add_(grad)
            param.sub_(stack.buffers[name] * (lrs * lr_scales[name]).view(shape))
            param.grad = None


def train_many(runs, train_split, configs, *, val_split=None, match=None, epochs=None, progress=True, resume=None,
               resume_every=None):
    """Train the ``runs`` (models of one architecture) in place, each by its own configuration of ``configs``, as
    :func:`quanos_lib.training.train` would train each alone, in one stacked step; returns their histories (the keys
    of :func:`~quanos_lib.training.train`'s). ``match``: one ``(split, target)`` per run (the continued phase's rule).
    Settings that shape the step (batch size, objective, max-norm, validation attack) must be the same for every run;
    seeds, learning rates, momenta, L1 and weight decay, patience and epoch caps may differ. ``resume``: a
    :class:`quanos_lib.training.ResumeFile` where the stack's whole state is saved after an epoch once
    ``resume_every`` seconds (default ``$QUANOS_RESUME_SECONDS``, else 60) have passed, and continued from."""
    runs, configs = list(runs), list(configs)
    _check(runs, configs)
    training.seed_everything(configs[0].seed)  # deterministic kernels, as train() sets them (runs draw their own)
    device = training.default_device()
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = configs[0].allow_tf32
    for run in runs:
        run.to(device)
    template = _template(runs[0])
    layers = _dropout_layers(template, train_split.x[:1].float())
    lr_scales = {f"{module_name}.{name}" if module_name else name: getattr(module, "lr_scale", 1.0)
                 for module_name, module in runs[0].named_modules() for name, _ in module.named_parameters(recurse=False)}
    constrained = {f"{n}.weight": getattr(m, "max_norm", configs[0].max_col_norm) for n, m in runs[0].named_modules()
                   if isinstance(m, (nn.Linear, nn.Conv2d)) and getattr(m, "max_norm", configs[0].max_col_norm)}

    def forward(params, masks, x):
        return functional_call(template, {**params, **masks}, (x,))

    stack = _Stack(runs, configs, device)
    images, labels = train_split.x.to(device), train_split.y.to(device)
    histories = [{"loss": [], "train_error": [], "val_error": [], "val_loss": [], "lr": [], "momentum": [],
                  "best_epoch": None, "best_step": None, "best_val_loss": None, "snapshots": {},
                  "threads": torch.get_num_threads(), **({"match_objective": []} if match is not None else {})}
                 for _ in runs]
    best = [{"error": float("inf"), "state": None, "since": 0} for _ in runs]
    caps = [c.epochs if epochs is None else epochs for c in configs]
    step, first, batch_size = 0, 0, configs[0].batch_size
    stack.keep([p for p, cap in enumerate(caps) if cap > 0])  # a run with a cap of 0 trains no epoch
    saved = resume.load() if resume is not None else None
    if saved is not None:  # continue where the run that saved it stopped
        stack.restore(saved["stack"], device)
        for run, state in zip(runs, saved["runs"], strict=True):  # those that left the stack keep their weights
            run.load_state_dict(state)
        histories, best, step, first = saved["histories"], saved["best"], saved["step"], saved["epoch"]
    last_save = time.perf_counter()
    resume_every = float(os.environ.get("QUANOS_RESUME_SECONDS", "60")) if resume_every is None else resume_every
    epoch_range = range(first, max(caps, default=0))
    with progress_bar(epoch_range, desc=f"training {len(runs)} stacked", unit="epoch", disable=not progress,
                      initial=first) as bar:
        for epoch in bar:
            if not stack.indices:
                break
            active = stack.indices
            momentum_values = [training.momentum(configs[i], epoch) for i in active]
            started_after = [s or m != 0 for s, m in zip(stack.started, momentum_values, strict=True)]
            carried = [torch.tensor([m if s else 0.0 for s, m in zip(started, momentum_values, strict=True)],
                                    device=device) for started in (stack.started, started_after)]
            weight_decays = (torch.tensor([configs[i].weight_decay for i in active], device=device)
                             if any(configs[i].weight_decay for i in active) else None)
            l1s = torch.tensor([configs[i].l1 for i in active], device=device) if any(configs[i].l1 for i in active) \
                else None
            loss_sum = torch.zeros(len(active), dtype=torch.float64, device=device)
            wrong, seen = torch.zeros(len(active), dtype=torch.long, device=device), 0
            orders = torch.stack([torch.randperm(len(labels), generator=g) for g in stack.shuffle]).to(device)
            batches = orders.split(batch_size, dim=1)
            # the epoch's learning rates, step by step and run by run, uploaded once (a copy per step would wait)
            lr_table = [[training.learning_rate(configs[i], step + k, epoch) for i in active] for k in range(len(batches))]
            lr_steps = torch.tensor(lr_table, device=device)
            for k, index in enumerate(batches):
                x, y = data.to_float(images[index]), labels[index]
                lrs = lr_steps[k]
                losses, outputs = _step_losses(template, forward, stack, x, y, configs, layers, l1s)
                losses.sum().backward()
                _sgd(stack, lrs, carried[min(k, 1)], weight_decays, lr_scales)  # buffers start at the first step
                with torch.no_grad():
                    for name, limit in constrained.items():
                        weight = stack.params[name]
                        weight.copy_(torch.renorm(weight.flatten(0, 1), 2, 0, limit).view_as(weight))
                wrong += (outputs.argmax(2) != y).sum(1)
                loss_sum += losses.detach().double() * y.shape[1]
                seen += y.shape[1]
                step += 1
            stack.started = started_after
            stack.write_back(runs)
            stopped = []
            for position, (run, loss, errors) in enumerate(zip(active, loss_sum.tolist(), wrong.tolist(), strict=True)):
                history, config, record = histories[run], configs[run], best[run]
                history["loss"].append(loss / seen)  # one read of the device per epoch, as alone
                history["train_error"].append(errors / seen)
                history["lr"].append(lr_table[-1][position])
                history["momentum"].append(momentum_values[position])
                done = epoch + 1 >= caps[run]
                if val_split is not None:
                    val_error, val_loss = training._validate(runs[run], val_split, config)
                    history["val_error"].append(val_error)
                    history["val_loss"].append(val_loss)
                    if val_error < record["error"]:
                        record.update(error=val_error, state=copy.deepcopy(runs[run].state_dict()), since=0)
                        history["best_epoch"], history["best_step"], history["best_val_loss"] = epoch, step, val_loss
                        if config.continue_epochs:
                            history["best_train_objective"] = _monitored(runs[run], train_split, config,
                                                                         stack.dropout[position])
                    else:
                        record["since"] += 1
                    if config.patience is not None and record["since"] >= config.patience:
                        stopped.append(position)  # as train() breaks: before the match rule is measured
                        continue
                if match is not None:
                    history["match_objective"].append(_monitored(runs[run], match[run][0], config,
                                                                 stack.dropout[position]))
                    done = done or history["match_objective"][-1] <= match[run][1]
                if done:
                    stopped.append(position)
            if stopped:
                stack.keep([p for p in range(len(active)) if p not in stopped])
            bar.set_postfix(runs=len(stack.indices))
            if resume is not None and time.perf_counter() - last_save >= resume_every:
                resume.save({"stack": stack.state(), "runs": [run.state_dict() for run in runs],
                             "histories": histories, "best": best, "step": step, "epoch": epoch + 1})
                last_save = time.perf_counter()
    for run, record in zip(runs, best, strict=True):
        if record["state"] is not None:
            run.load_state_dict(record["state"])
        run.eval()
    return histories


def _monitored(model, split, config, generator):
    """:func:`training.monitored_objective`, its dropout drawn from where the run's own stream stands (as alone,
    where it forks the global stream), leaving every stream as it was."""
    with torch.random.fork_rng(devices=[generator.device] if generator.device.type == "cuda" else []):
        if generator.device.type == "cuda":
            torch.cuda.set_rng_state(generator.get_state(), generator.device)
        else:
            torch.set_rng_state(generator.get_state())
        return training.monitored_objective(model, split, config)


def trained_models(name, build, train_split, configs, *, val_split=None, progress=True):
    """:func:`quanos_lib.training.trained_model` for each of ``configs`` (runs of one architecture, ``build()``), as
    a list of ``(model, history)``. Runs whose configuration says ``stacked`` (a profile's choice, never the device's)
    and are not in the cache train together, in one stacked step (:func:`train_many`; the continued phase stacked
    too), each into its own checkpoint under its own key; every other run trains alone. Inside
    :func:`quanos_lib.training.dry_run`, every run is checked alone."""
    found, missing = [None] * len(configs), []
    for index, config in enumerate(configs):
        if not config.stacked or training._DRY_RUN is not None:
            found[index] = training.trained_model(name, build, train_split, config, val_split=val_split,
                                                  progress=progress)
            continue
        training.seed_everything(config.seed)
        key = training._cache_key(name, build(), config, train_split, val_split)
        path = checkpoints.path_for(name, key)
        training.seed_everything(config.seed)
        cached = checkpoints.load(path, build())
        if cached is None:
            missing.append((index, path))
        else:
            found[index] = (cached[0], dict(cached[1], config=config.asdict(), checkpoint=path.name))
    if missing:
        for _, path in missing:
            checkpoints.check_trainable(path)
        with checkpoints.locked([path for _, path in missing]):  # another process may be training some of them
            still = []
            for index, path in missing:
                training.seed_everything(configs[index].seed)
                cached = checkpoints.load(path, build()) if path.exists() else None
                if cached is None:
                    still.append((index, path))
                else:
                    found[index] = (cached[0], dict(cached[1], config=configs[index].asdict(), checkpoint=path.name))
            if still:
                _train_missing(name, build, train_split, val_split, configs, still, found, progress)
    return [(model.to(training.default_device()).eval(), history) for model, history in found]


def _train_missing(name, build, train_split, val_split, configs, missing, found, progress):
    """Train the ``missing`` runs of :func:`trained_models` in one stack, resumably: the stack's state saved as it
    trains (each phase its own file, tagged by every checkpoint of the stack), the first phase's end kept so that a
    restart in the continued phase does not redo it; then each run into its checkpoint."""
    runs = []
    for index, _ in missing:
        training.seed_everything(configs[index].seed)
        runs.append(build())
    chosen = [configs[index] for index, _ in missing]
    first_path = missing[0][1]
    tag = f"{name}:stack:" + ",".join(path.stem for _, path in missing)
    resumes = {phase: training.ResumeFile(first_path.with_name(f"{first_path.stem}.stack-{phase}.resume"),
                                          f"{tag}:{phase}") for phase in ("first", "first-done", "continued")}
    start = time.perf_counter()
    done = resumes["first-done"].load()
    if done is None:
        histories = train_many(runs, train_split, chosen, val_split=val_split, progress=progress,
                               resume=resumes["first"])
        resumes["first-done"].save({"runs": [run.state_dict() for run in runs], "histories": histories})
    else:
        for run, state in zip(runs, done["runs"], strict=True):
            run.load_state_dict(state)
        histories = done["histories"]
    continuing = [k for k, c in enumerate(chosen) if val_split is not None and c.continue_epochs]
    if continuing:  # the continued phase of those that have one, stacked as well (see trained_model)
        everything = data.Split(torch.cat([train_split.x, val_split.x]), torch.cat([train_split.y, val_split.y]))
        continued = train_many(  # each run for at most its own continue_epochs (trained_model's cap)
            [runs[k] for k in continuing], everything,
            [dataclasses.replace(training.continued_config(chosen[k], histories[k]), epochs=chosen[k].continue_epochs)
             for k in continuing],
            match=[(val_split, histories[k]["best_train_objective"]) for k in continuing], progress=progress,
            resume=resumes["continued"])
        for k, more in zip(continuing, continued, strict=True):
            histories[k]["continued"] = more
    seconds = (time.perf_counter() - start) / len(runs)  # the stack's time (this process's share), per run
    trained_on = training.trained_on()  # as trained_model records it; one machine for the whole stack
    for (index, path), model, history in zip(missing, runs, histories, strict=True):
        history["seconds"] = seconds
        history["trained_on"] = trained_on
        checkpoints.save(path, model, history)
        found[index] = (model, dict(history, config=configs[index].asdict(), checkpoint=path.name))
    for resume_file in resumes.values():  # the finished checkpoints replace them
        resume_file.remove()
