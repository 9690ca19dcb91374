/* The observer's filters in C: a profile function (3.11) that lets a hooked call, return or C
 * call through to Python and drops every other event without a Python call; an audit hook that
 * calls Python only for the audit events the observer handles (not for each frame's f_code read,
 * sys._getframe, sys.setprofile...); and, on 3.11, the part of sys.monitoring the observer uses
 * (events local to code objects), made with a frame evaluation hook (PEP 523) instead of a
 * profile function, under which 3.11 runs every instruction unspecialised. Header-free (the
 * stable ABI's layouts, declared here), so that it builds with gcc alone and loads into any
 * CPython 3.11+; the frame hook reads three 3.11 structures, checked at run time (frame_check). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <errno.h>
#include <unistd.h>

typedef intptr_t Py_ssize_t;
typedef struct _object { Py_ssize_t ob_refcnt; void *ob_type; } PyObject;
typedef PyObject *(*PyCFunction)(PyObject *, PyObject *);
typedef struct { const char *ml_name; PyCFunction ml_meth; int ml_flags; const char *ml_doc; } PyMethodDef;
typedef struct { PyObject ob_base; PyObject *(*m_init)(void); Py_ssize_t m_index; PyObject *m_copy; } PyModuleDef_Base;
typedef struct {
    PyModuleDef_Base m_base; const char *m_name; const char *m_doc; Py_ssize_t m_size;
    PyMethodDef *m_methods; void *m_slots; void *m_traverse; void *m_clear; void *m_free;
} PyModuleDef;
typedef int (*Py_tracefunc)(PyObject *, PyObject *, int, PyObject *);

extern PyObject *PyModule_Create2(PyModuleDef *, int);
extern PyObject *PyFrame_GetCode(PyObject *);
extern PyObject *PyObject_CallFunctionObjArgs(PyObject *, ...);
extern void PyEval_SetProfile(Py_tracefunc, PyObject *);
extern int PyArg_ParseTuple(PyObject *, const char *, ...);
extern PyObject *PyErr_NoMemory(void);
extern void Py_IncRef(PyObject *);
extern void Py_DecRef(PyObject *);
extern PyObject _Py_NoneStruct;
extern int PySys_AddAuditHook(int (*)(const char *, PyObject *, void *), void *);
extern PyObject *PyUnicode_FromString(const char *);
extern const char *PyUnicode_AsUTF8AndSize(PyObject *, Py_ssize_t *);
extern Py_ssize_t PyTuple_Size(PyObject *);
extern PyObject *PyTuple_GetItem(PyObject *, Py_ssize_t);
extern PyObject *PyEval_GetFrame(void);
extern PyObject *PyFrame_GetBack(PyObject *);
extern int PyFrame_GetLasti(PyObject *);
extern PyObject *PyFunction_GetCode(PyObject *);
extern PyObject *PyObject_CallNoArgs(PyObject *);
extern PyObject *PyLong_FromLong(long);
extern long PyLong_AsLong(PyObject *);
extern PyObject *PyBool_FromLong(long);
extern void PyErr_Fetch(PyObject **, PyObject **, PyObject **);
extern void PyErr_Restore(PyObject *, PyObject *, PyObject *);
extern void PyErr_NormalizeException(PyObject **, PyObject **, PyObject **);
extern void *PyThreadState_Get(void);
extern void *PyInterpreterState_Get(void);
extern void PyErr_SetString(PyObject *, const char *);
extern PyObject *PyExc_RecursionError;
extern PyObject *PyDict_GetItem(PyObject *, PyObject *);
extern int PyDict_Next(PyObject *, Py_ssize_t *, PyObject **, PyObject **);
extern PyObject *PyObject_GetAttr(PyObject *, PyObject *);
extern PyObject *PyObject_Repr(PyObject *);
extern long long PyLong_AsLongLong(PyObject *);
extern PyObject *PyLong_FromUnsignedLong(unsigned long);
extern double PyFloat_AsDouble(PyObject *);
extern PyObject *PyErr_Occurred(void);
extern void PyErr_Clear(void);
extern unsigned long PyType_GetFlags(void *);
extern Py_ssize_t PyList_Size(PyObject *);
extern PyObject *PyList_GetItem(PyObject *, Py_ssize_t);
extern PyObject _Py_TrueStruct, _Py_FalseStruct;
extern char PyFloat_Type, PyUnicode_Type;  /* (their addresses only) */
extern int PyType_IsSubtype(void *, void *);

#define METH_VARARGS 1
#define METH_O 8
#define METH_FASTCALL 0x80
enum { CALL = 0, RETURN = 3, C_CALL = 4, C_EXCEPTION = 5, C_RETURN = 6 };

/* a set of object addresses (open addressing); its objects are held */
typedef struct { uintptr_t *slots; size_t mask; size_t used; } Set;
static Set codes, cfuncs;

static size_t home_of(const Set *s, uintptr_t key) {  /* objects are 16-byte aligned: >> 4 */
    return (size_t)((key >> 4) * 0x9E3779B97F4A7C15ull) & s->mask;
}
static size_t slot_of(const Set *s, uintptr_t key) {
    size_t i = home_of(s, key);
    while (s->slots[i] != 0 && s->slots[i] != key) i = (i + 1) & s->mask;
    return i;
}
static int contains(const Set *s, const void *key) {
    return s->slots != NULL && s->slots[slot_of(s, (uintptr_t)key)] == (uintptr_t)key;
}
static int grow(Set *s) {
    size_t size = s->slots ? (s->mask + 1) * 2 : 64;
    uintptr_t *old = s->slots; size_t old_size = old ? s->mask + 1 : 0;
    s->slots = calloc(size, sizeof(uintptr_t));
    if (s->slots == NULL) { s->slots = old; return -1; }
    s->mask = size - 1;
    for (size_t i = 0; i < old_size; i++) if (old[i]) s->slots[slot_of(s, old[i])] = old[i];
    free(old);
    return 0;
}
static int add_key(Set *s, uintptr_t key) {  /* 1: added, 0: there already, -1: no memory */
    if ((s->slots == NULL || (s->used + 1) * 2 > s->mask + 1) && grow(s) < 0) return -1;
    size_t i = slot_of(s, key);
    if (s->slots[i] != 0) return 0;
    s->slots[i] = key; s->used++;
    return 1;
}
static int add(Set *s, PyObject *key) {
    int added = add_key(s, (uintptr_t)key);
    if (added > 0) Py_IncRef(key);
    return added < 0 ? -1 : 0;
}
static void discard(Set *s, PyObject *key) {  /* backward-shift deletion keeps probing exact */
    if (!contains(s, key)) return;
    size_t i = slot_of(s, (uintptr_t)key), j = i;
    s->slots[i] = 0; s->used--;
    for (;;) {
        j = (j + 1) & s->mask;
        if (s->slots[j] == 0) break;
        size_t home = home_of(s, s->slots[j]);
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            s->slots[i] = s->slots[j]; s->slots[j] = 0; i = j;
        }
    }
    Py_DecRef(key);
}

static PyObject *hit;  /* the Python function called for a hooked event: hit(frame, event, arg) */
static PyObject *names[7];

static int profile(PyObject *obj, PyObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (hit == NULL) return 0;  /* not armed yet */
    if (what == CALL || what == RETURN) {
        PyObject *code = PyFrame_GetCode(frame);
        Py_DecRef(code);  /* the frame holds it */
        if (!contains(&codes, code)) return 0;
        if (what == CALL) arg = code;
    } else if (what == C_CALL || what == C_RETURN || what == C_EXCEPTION) {
        if (!contains(&cfuncs, arg)) return 0;
    } else {
        return 0;
    }
    PyObject *result = PyObject_CallFunctionObjArgs(hit, frame, names[what], arg ? arg : &_Py_NoneStruct, NULL);
    if (result == NULL) return -1;  /* the hook raised (it lets only KeyboardInterrupt and the like out) */
    Py_DecRef(result);
    return 0;
}

static PyObject *none(void) { Py_IncRef(&_Py_NoneStruct); return &_Py_NoneStruct; }

static PyObject *arm(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *function, *call, *ret, *c_call, *c_exception, *c_return;
    if (!PyArg_ParseTuple(args, "OUUUUU", &function, &call, &ret, &c_call, &c_exception, &c_return)) return NULL;
    PyObject *given[] = {function, call, ret, c_call, c_exception, c_return};
    for (int i = 0; i < 6; i++) Py_IncRef(given[i]);
    hit = function;
    names[CALL] = call; names[RETURN] = ret; names[C_CALL] = c_call;
    names[C_EXCEPTION] = c_exception; names[C_RETURN] = c_return;
    return none();
}
static PyObject *hook_code(PyObject *self, PyObject *code) {
    (void)self; return add(&codes, code) < 0 ? PyErr_NoMemory() : none();
}
static PyObject *unhook_code(PyObject *self, PyObject *code) {
    (void)self; discard(&codes, code); return none();
}
static PyObject *hook_c(PyObject *self, PyObject *function) {
    (void)self; return add(&cfuncs, function) < 0 ? PyErr_NoMemory() : none();
}
static PyObject *set_profile(PyObject *self, PyObject *shown) {  /* sys.getprofile() then returns `shown` */
    (void)self; PyEval_SetProfile(profile, shown); return none();
}

/* The audit events passed on to Python: their names, and the function called with (name, args). */
#define MAX_AUDITED 32
static char *audited[MAX_AUDITED];
static Py_ssize_t n_audited;
static PyObject *on_audit;

static int audit(const char *event, PyObject *args, void *data) {
    (void)data;
    if (on_audit == NULL) return 0;
    for (Py_ssize_t i = 0; i < n_audited; i++) {
        if (strcmp(event, audited[i]) != 0) continue;
        PyObject *name = PyUnicode_FromString(event);
        if (name == NULL) return -1;
        PyObject *result = PyObject_CallFunctionObjArgs(on_audit, name, args, NULL);
        Py_DecRef(name);
        if (result == NULL) return -1;  /* as a Python audit hook's exception: the operation fails */
        Py_DecRef(result);
        return 0;
    }
    return 0;
}

static PyObject *audit_hook(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *function, *names;
    if (!PyArg_ParseTuple(args, "OO", &function, &names)) return NULL;
    Py_ssize_t count = PyTuple_Size(names);
    if (count < 0) return NULL;
    char *copies[MAX_AUDITED];
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < count && kept < MAX_AUDITED; i++) {
        Py_ssize_t size;
        const char *name = PyUnicode_AsUTF8AndSize(PyTuple_GetItem(names, i), &size);
        if (name == NULL) { while (kept) free(copies[--kept]); return NULL; }
        copies[kept] = malloc((size_t)size + 1);
        if (copies[kept] == NULL) { while (kept) free(copies[--kept]); return PyErr_NoMemory(); }
        memcpy(copies[kept++], name, (size_t)size + 1);
    }
    int first = on_audit == NULL;
    Py_IncRef(function);
    PyObject *old = on_audit;
    for (Py_ssize_t i = 0; i < n_audited; i++) free(audited[i]);
    memcpy(audited, copies, sizeof(char *) * (size_t)kept);
    n_audited = kept;
    on_audit = function;
    if (old != NULL) Py_DecRef(old);
    if (first && PySys_AddAuditHook(audit, NULL) < 0) return NULL;  /* once: a hook is never removed */
    return none();
}


/* ---------------------------------------------------------------------------------------------
 * 3.11: sys.monitoring's local events, by a frame evaluation hook (PEP 523). Every Python frame
 * is evaluated through `frame_eval`, which runs the default evaluator at once for a code object
 * with no event (3.11's specialising interpreter then runs at full speed; a hook set makes it
 * call frames through here instead of inlining them, which costs a call little). For a code
 * object with events: PY_START before its frame runs and PY_RETURN or PY_UNWIND after, with the
 * frame object (made as 3.11 makes it for sys._getframe); CALL before each call it makes and
 * C_RETURN or C_RAISE after each C call: a Python callee's from here, a C callee's from a
 * profile function set only while that code's own instructions run. */

/* 3.11's layouts (Include/internal/pycore_frame.h, cpython/pystate.h), checked by frame_check */
#define FRAME_FUNC(f) (*(PyObject **)((char *)(f) + 0))
#define FRAME_CODE(f) (*(PyObject **)((char *)(f) + 32))
#define FRAME_OBJECT(f) (*(PyObject **)((char *)(f) + 40))
#define FRAME_PREVIOUS(f) (*(void **)((char *)(f) + 48))
#define FRAME_PREV_INSTR(f) (*(uint16_t **)((char *)(f) + 56))
#define CODE_FIRST_TRACEABLE(c) (*(int *)((char *)(c) + 168))
#define CODE_UNITS(c) ((uint16_t *)((char *)(c) + 184))
#define STATE_CFRAME(ts) (*(void **)((char *)(ts) + 56))
#define STATE_PROFILE(ts) (*(Py_tracefunc *)((char *)(ts) + 64))
#define CFRAME_CURRENT(cf) (*(void **)((char *)(cf) + 8))

enum { EV_PY_START = 1, EV_PY_RETURN = 4, EV_CALL = 16, EV_PY_UNWIND = 4096, EV_C_RETURN = 32768, EV_C_RAISE = 65536 };
typedef PyObject *(*EvalFrame)(void *, void *, int);
static EvalFrame default_eval;
static void (*set_eval)(void *, EvalFrame);
static EvalFrame (*get_eval)(void *);
static int (*finalizing)(void);  /* _Py_IsFinalizing: past atexit, module globals go; nothing is reported */

/* code object -> its local events; the code objects are held (an address is never reused) */
typedef struct { Set keys; int *events; } Events;
static Events local;
static Set disabled;  /* call sites (code address + offset) whose CALL returned DISABLE */
static PyObject *on_start, *on_return, *on_unwind, *on_call, *on_c_return, *on_c_raise, *disable;
static __thread PyObject *watching;  /* the code of the innermost frame evaluated here, if it has CALL */
static __thread int busy;  /* in a callback: nothing reported (as under a profile function) */

static int events_of(PyObject *code) {
    if (local.keys.slots == NULL) return 0;
    size_t i = slot_of(&local.keys, (uintptr_t)code);
    return local.keys.slots[i] == (uintptr_t)code ? local.events[i] : 0;
}
static int set_events_of(PyObject *code, int events) {
    if ((local.keys.slots == NULL || (local.keys.used + 1) * 2 > local.keys.mask + 1)) {
        size_t old_size = local.keys.slots ? local.keys.mask + 1 : 0;
        uintptr_t *old_keys = local.keys.slots; int *old_events = local.events;
        size_t size = old_size ? old_size * 2 : 64;
        uintptr_t *keys = calloc(size, sizeof(uintptr_t)); int *values = calloc(size, sizeof(int));
        if (keys == NULL || values == NULL) { free(keys); free(values); return -1; }
        local.keys.slots = keys; local.keys.mask = size - 1; local.events = values;
        for (size_t i = 0; i < old_size; i++) {
            if (!old_keys[i]) continue;
            size_t j = slot_of(&local.keys, old_keys[i]);
            keys[j] = old_keys[i]; values[j] = old_events[i];
        }
        free(old_keys); free(old_events);
    }
    size_t i = slot_of(&local.keys, (uintptr_t)code);
    if (local.keys.slots[i] == 0) { local.keys.slots[i] = (uintptr_t)code; local.keys.used++; Py_IncRef(code); }
    local.events[i] = events;
    return 0;
}

static int watch_profile(PyObject *obj, PyObject *frame, int what, PyObject *arg);
/* (setting one is an audit event: a Python audit hook's frames are no calls of the watched code) */
static void profile_on(void *ts) {
    if (STATE_PROFILE(ts) == NULL) { busy = 1; PyEval_SetProfile(watch_profile, NULL); busy = 0; }
}
static void profile_off(void *ts) {
    if (STATE_PROFILE(ts) == watch_profile) { busy = 1; PyEval_SetProfile(NULL, NULL); busy = 0; }
}

/* callback(args...) with nothing reported meanwhile; -1 if it raised, 1 if it returned DISABLE */
static int report(PyObject *callback, PyObject *a, PyObject *b, PyObject *c, PyObject *d) {
    if (callback == NULL) return 0;
    busy = 1;
    PyObject *result = PyObject_CallFunctionObjArgs(callback, a, b, c, d, NULL);
    busy = 0;
    if (result == NULL) return -1;
    int disabled_now = result == disable;
    Py_DecRef(result);
    return disabled_now;
}

/* A call made from a code object with CALL events: CALL (a C callee's C_RETURN or C_RAISE too),
 * unless the site's CALL returned DISABLE. A Python callee's site is kept apart from a C one's:
 * a Python function run while a C call is under way (a signal handler) is reported at that C
 * call's site, whose C_RETURN must still come. */
static int report_call(PyObject *code, PyObject *frame, PyObject *callback, PyObject *function, int python) {
    int offset = PyFrame_GetLasti(frame);
    /* inside the (held) code object, so unique; offsets are even: a Python callee's site is odd */
    uintptr_t site = (uintptr_t)code + (uintptr_t)offset + (python ? 1 : 0);
    if (contains(&disabled, (void *)site)) return 0;
    PyObject *where = PyLong_FromLong(offset);
    if (where == NULL) return -1;
    int result = report(callback, code, where, function, &_Py_NoneStruct);
    Py_DecRef(where);
    if (result == 1 && callback == on_call && add_key(&disabled, site) < 0) return -1;
    return result < 0 ? -1 : 0;
}

/* The profile function of a frame whose code has CALL events: its C calls. */
static int watch_profile(PyObject *obj, PyObject *frame, int what, PyObject *arg) {
    (void)obj;
    if (busy || (what != C_CALL && what != C_RETURN && what != C_EXCEPTION) || finalizing()) return 0;
    PyObject *code = PyFrame_GetCode(frame);
    Py_DecRef(code);  /* the frame holds it */
    if (!(events_of(code) & EV_CALL)) return 0;
    return report_call(code, frame, what == C_CALL ? on_call : what == C_RETURN ? on_c_return : on_c_raise, arg, 0);
}

/* The frame object of `f`, which has not started: made as sys._getframe makes one, with `f` the
 * thread's current frame for that moment (its caller its previous one), and as if at its first
 * instruction (a frame before it is skipped as incomplete). A new reference. */
static PyObject *frame_object(void *ts, void *f) {
    void *cframe = STATE_CFRAME(ts);
    void *current = CFRAME_CURRENT(cframe);
    uint16_t *instr = FRAME_PREV_INSTR(f);
    PyObject *code = FRAME_CODE(f);
    FRAME_PREVIOUS(f) = current;  /* (the evaluator sets it so too) */
    FRAME_PREV_INSTR(f) = CODE_UNITS(code) + CODE_FIRST_TRACEABLE(code);
    CFRAME_CURRENT(cframe) = f;
    PyObject *frame = PyEval_GetFrame();
    CFRAME_CURRENT(cframe) = current;
    FRAME_PREV_INSTR(f) = instr;
    if (frame != NULL) Py_IncRef(frame);
    return frame;
}

static PyObject *frame_eval_reporting(void *ts, void *f, int throwflag, PyObject *code, int events, PyObject *outer) {
    if (outer != NULL) {  /* called by a frame with CALL events: its CALL, then no profile function here */
        if (!throwflag) {
            PyObject *caller = PyEval_GetFrame();
            PyObject *function = FRAME_FUNC(f) ? FRAME_FUNC(f) : &_Py_NoneStruct;
            if (caller != NULL && report_call(outer, caller, on_call, function, 1) < 0) return NULL;
        }
        profile_off(ts);
        events = events_of(code);  /* (that CALL may have hooked this code: a run()) */
    }
    PyObject *frame = NULL;
    if ((events & (EV_PY_START | EV_PY_RETURN)) && !throwflag) {
        frame = frame_object(ts, f);
        if (frame != NULL && (events & EV_PY_START) && report(on_start, code, frame, NULL, NULL) < 0) {
            Py_DecRef(frame);
            if (outer != NULL) profile_on(ts);
            return NULL;
        }
    }
    watching = (events_of(code) & EV_CALL) ? code : NULL;  /* (PY_START may have asked for CALL) */
    if (watching != NULL) profile_on(ts);
    PyObject *result = default_eval(ts, f, throwflag);
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback);  /* (kept across the reports below) */
    if (watching != NULL) profile_off(ts);
    watching = outer;
    if ((events_of(code) & EV_PY_RETURN) && !throwflag) {  /* (a hook may have been added meanwhile) */
        if (frame == NULL && FRAME_OBJECT(f) != NULL) { frame = FRAME_OBJECT(f); Py_IncRef(frame); }
        if (frame != NULL) {
            int failed;
            if (result != NULL) {
                failed = report(on_return, code, frame, result, NULL) < 0;
            } else {
                PyErr_NormalizeException(&type, &value, &traceback);
                failed = report(on_unwind, code, frame, value ? value : &_Py_NoneStruct, NULL) < 0;
            }
            if (failed && result != NULL) {  /* the callback's exception replaces the return */
                Py_DecRef(result); result = NULL;
                PyErr_Fetch(&type, &value, &traceback);
            } else if (failed) {
                PyObject *t, *v, *tb;
                PyErr_Fetch(&t, &v, &tb);
                if (t) Py_DecRef(t);
                if (v) Py_DecRef(v);
                if (tb) Py_DecRef(tb);
            }
        }
    }
    if (frame != NULL) Py_DecRef(frame);
    if (outer != NULL) profile_on(ts);
    PyErr_Restore(type, value, traceback);
    return result;
}

/* Under a frame hook 3.11 no longer runs a Python call inside its caller's C frame: each one
 * takes C stack, as on 3.10. A program that raised the recursion limit far enough would run out
 * of it (a segmentation fault) where it would not untraced: a RecursionError comes first. */
#define STACK_MARGIN (256 * 1024)
static __thread uintptr_t stack_floor;  /* this thread's lowest usable stack address, once known */
static uintptr_t find_stack_floor(void) {
    pthread_attr_t attr;
    void *low = NULL; size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        pthread_attr_getstack(&attr, &low, &size);
        pthread_attr_destroy(&attr);
    }
    return low != NULL && size > 2 * STACK_MARGIN ? (uintptr_t)low + STACK_MARGIN : 1;
}
static const char STACK_MESSAGE[] =
    "maximum recursion depth exceeded: the C stack is nearly full (on 3.11 each Python call takes C "
    "stack under proclife's frame evaluation hook; PROCLIFE_OBSERVER_PROFILE=1 observes this program "
    "with a profile function instead, which does not)";

static PyObject *frame_eval(void *ts, void *f, int throwflag) {
    char here;
    if (stack_floor == 0) stack_floor = find_stack_floor();
    if ((uintptr_t)&here < stack_floor) {
        PyErr_SetString(PyExc_RecursionError, STACK_MESSAGE);
        return NULL;
    }
    PyObject *code = FRAME_CODE(f);
    int events = events_of(code);
    PyObject *outer = watching;
    if ((events == 0 && outer == NULL) || busy || finalizing()) return default_eval(ts, f, throwflag);
    return frame_eval_reporting(ts, f, throwflag, code, events, outer);
}

static int resolve(void) {
    if (sizeof(void *) != 8) return 0;
    default_eval = (EvalFrame)dlsym(RTLD_DEFAULT, "_PyEval_EvalFrameDefault");
    *(void **)&set_eval = dlsym(RTLD_DEFAULT, "_PyInterpreterState_SetEvalFrameFunc");
    *(void **)&get_eval = dlsym(RTLD_DEFAULT, "_PyInterpreterState_GetEvalFrameFunc");
    *(void **)&finalizing = dlsym(RTLD_DEFAULT, "_Py_IsFinalizing");
    return default_eval != NULL && set_eval != NULL && get_eval != NULL && finalizing != NULL;
}

/* frame_check(probe): whether this interpreter's layouts are the ones read here (3.11's), from a
 * call of `probe` (a Python function of no argument) evaluated through a checking hook. */
static PyObject *probe_function, *probe_caller;
static int probe_seen, probe_ok, layouts_checked;
static PyObject *probe_eval(void *ts, void *f, int throwflag) {
    if (!probe_seen && FRAME_FUNC(f) == probe_function && !throwflag) {
        probe_seen = 1;
        probe_ok = FRAME_CODE(f) == PyFunction_GetCode(probe_function) && FRAME_OBJECT(f) == NULL
                   && probe_caller != NULL && CFRAME_CURRENT(STATE_CFRAME(ts)) != NULL;
        if (probe_ok) {
            PyObject *frame = frame_object(ts, f);
            PyObject *code = frame ? PyFrame_GetCode(frame) : NULL;
            PyObject *back = frame ? PyFrame_GetBack(frame) : NULL;
            probe_ok = frame != NULL && FRAME_OBJECT(f) == frame && code == FRAME_CODE(f) && back == probe_caller;
            if (code) Py_DecRef(code);
            if (back) Py_DecRef(back);
            if (frame) Py_DecRef(frame);
        }
    }
    return default_eval(ts, f, throwflag);
}
static PyObject *frame_check(PyObject *self, PyObject *probe) {
    (void)self;
    if (!resolve()) return PyBool_FromLong(0);
    void *ts = PyThreadState_Get(), *interp = PyInterpreterState_Get();
    if (get_eval(interp) != default_eval || STATE_PROFILE(ts) != NULL) return PyBool_FromLong(0);
    PyEval_SetProfile(watch_profile, NULL);  /* the profile function's place in the thread state */
    int ok = STATE_PROFILE(ts) == watch_profile;
    PyEval_SetProfile(NULL, NULL);
    ok = ok && STATE_PROFILE(ts) == NULL;
    if (!ok) return PyBool_FromLong(0);
    probe_function = probe; probe_caller = PyEval_GetFrame(); probe_seen = probe_ok = 0;
    set_eval(interp, probe_eval);
    PyObject *result = PyObject_CallNoArgs(probe);
    set_eval(interp, default_eval);
    probe_function = probe_caller = NULL;
    if (result == NULL) return NULL;
    Py_DecRef(result);
    layouts_checked = probe_seen && probe_ok;
    return PyBool_FromLong(layouts_checked);
}

/* frame_hook(start, return, unwind, call, c_return, c_raise, DISABLE): report from now on (False:
 * not here, frame_check has not passed) */
static PyObject *frame_hook(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *given[7];
    if (!PyArg_ParseTuple(args, "OOOOOOO", &given[0], &given[1], &given[2], &given[3], &given[4], &given[5],
                          &given[6])) return NULL;
    if (!layouts_checked || !resolve()) return PyBool_FromLong(0);
    for (int i = 0; i < 7; i++) Py_IncRef(given[i]);
    on_start = given[0]; on_return = given[1]; on_unwind = given[2]; on_call = given[3];
    on_c_return = given[4]; on_c_raise = given[5]; disable = given[6];
    set_eval(PyInterpreterState_Get(), frame_eval);
    return PyBool_FromLong(1);
}
static PyObject *get_local_events(PyObject *self, PyObject *code) {
    (void)self; return PyLong_FromLong(events_of(code));
}
static PyObject *set_local_events(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *code; int events;
    if (!PyArg_ParseTuple(args, "Oi", &code, &events)) return NULL;
    return set_events_of(code, events) < 0 ? PyErr_NoMemory() : none();
}

/* ---------------------------------------------------------------------------------------------
 * An event's line, written in C: what the observer's `_emit` does in Python (the identity from the
 * thread's own fields, the details as json.dumps(default=repr, separators=(",", ":")) writes
 * them, one write). In a forked child each object Python code touches is a page copied from the
 * parent (its reference count); this reads the thread, the details and the names without taking
 * a reference, so a first event costs a child a few pages, not tens. Whatever it does not write
 * the same way (a line too long, a float that is not finite, a key that is not a str, an int
 * beyond 64 bits, a thread threading does not know) is left to the Python code (returns 1). */

#define LINE_LIMIT 4000
#define TPFLAGS_LONG (1UL << 24)
#define TPFLAGS_LIST (1UL << 25)
#define TPFLAGS_TUPLE (1UL << 26)
#define TPFLAGS_UNICODE (1UL << 28)
#define TPFLAGS_DICT (1UL << 29)
typedef struct { char data[LINE_LIMIT]; size_t used; int full; } Line;
static PyObject *threads_active, *key_dict, *key_name, *key_daemonic;

static void put(Line *line, const char *text, size_t size) {
    if (line->full || line->used + size >= LINE_LIMIT) { line->full = 1; return; }
    memcpy(line->data + line->used, text, size);
    line->used += size;
}
static void puts_(Line *line, const char *text) { put(line, text, strlen(text)); }
static void put_ll(Line *line, long long value) {
    char text[32]; int n = snprintf(text, sizeof text, "%lld", value); put(line, text, (size_t)n);
}
static unsigned long flags_of(PyObject *o) { return PyType_GetFlags(o->ob_type); }

/* a str as json's encode_basestring_ascii writes it */
static int put_str(Line *line, PyObject *text) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) { PyErr_Clear(); return 1; }
    put(line, "\"", 1);
    for (Py_ssize_t i = 0; i < size && !line->full; ) {
        unsigned char c = (unsigned char)utf8[i];
        unsigned long cp; int n;
        if (c < 0x80) { cp = c; n = 1; }
        else if ((c & 0xE0) == 0xC0) { cp = c & 0x1F; n = 2; }
        else if ((c & 0xF0) == 0xE0) { cp = c & 0x0F; n = 3; }
        else { cp = c & 0x07; n = 4; }
        if (i + n > size) return 1;
        for (int k = 1; k < n; k++) cp = (cp << 6) | ((unsigned char)utf8[i + k] & 0x3F);
        i += n;
        char out[16];
        switch (cp) {
        case '"': put(line, "\\\"", 2); continue;
        case '\\': put(line, "\\\\", 2); continue;
        case '\n': put(line, "\\n", 2); continue;
        case '\r': put(line, "\\r", 2); continue;
        case '\t': put(line, "\\t", 2); continue;
        case '\b': put(line, "\\b", 2); continue;
        case '\f': put(line, "\\f", 2); continue;
        default: break;
        }
        if (cp >= 0x20 && cp < 0x7F) { out[0] = (char)cp; put(line, out, 1); }
        else if (cp < 0x10000) { put(line, out, (size_t)snprintf(out, sizeof out, "\\u%04lx", cp)); }
        else {
            unsigned long v = cp - 0x10000;
            put(line, out, (size_t)snprintf(out, sizeof out, "\\u%04lx\\u%04lx", 0xD800 | (v >> 10), 0xDC00 | (v & 0x3FF)));
        }
    }
    put(line, "\"", 1);
    return 0;
}

/* a value as json.dumps(default=repr) writes it; 1: not the same way here */
static int put_value(Line *line, PyObject *value, int depth) {
    if (depth > 8) return 1;
    if (value == &_Py_NoneStruct) { puts_(line, "null"); return 0; }
    if (value == &_Py_TrueStruct) { puts_(line, "true"); return 0; }
    if (value == &_Py_FalseStruct) { puts_(line, "false"); return 0; }
    unsigned long flags = flags_of(value);
    if (flags & TPFLAGS_UNICODE) return put_str(line, value);
    if (flags & TPFLAGS_LONG) {
        long long number = PyLong_AsLongLong(value);
        if (number == -1 && PyErr_Occurred()) { PyErr_Clear(); return 1; }
        put_ll(line, number);
        return 0;
    }
    if (PyType_IsSubtype(value->ob_type, &PyFloat_Type)) {
        double number = PyFloat_AsDouble(value);
        if (!(number - number == 0)) return 1;  /* nan, inf: json's NaN, Infinity */
        PyObject *text = PyObject_Repr(value);  /* float.__repr__, as json (a subclass's repr is not) */
        if (text == NULL) { PyErr_Clear(); return 1; }
        Py_ssize_t size;
        const char *digits = PyUnicode_AsUTF8AndSize(text, &size);
        if (digits != NULL) put(line, digits, (size_t)size);
        Py_DecRef(text);
        if (digits == NULL) { PyErr_Clear(); return 1; }
        return value->ob_type == &PyFloat_Type ? 0 : 1;
    }
    if (flags & (TPFLAGS_LIST | TPFLAGS_TUPLE)) {
        Py_ssize_t count = (flags & TPFLAGS_LIST) ? PyList_Size(value) : PyTuple_Size(value);
        put(line, "[", 1);
        for (Py_ssize_t i = 0; i < count; i++) {
            if (i) put(line, ",", 1);
            PyObject *item = (flags & TPFLAGS_LIST) ? PyList_GetItem(value, i) : PyTuple_GetItem(value, i);
            if (item == NULL || put_value(line, item, depth + 1)) { PyErr_Clear(); return 1; }
        }
        put(line, "]", 1);
        return 0;
    }
    if (flags & TPFLAGS_DICT) {
        Py_ssize_t position = 0; PyObject *key, *item; int first = 1;
        put(line, "{", 1);
        while (PyDict_Next(value, &position, &key, &item)) {
            if (!(flags_of(key) & TPFLAGS_UNICODE)) return 1;
            if (!first) put(line, ",", 1);
            first = 0;
            if (put_str(line, key)) return 1;
            put(line, ":", 1);
            if (put_value(line, item, depth + 1)) return 1;
        }
        put(line, "}", 1);
        return 0;
    }
    PyObject *text = PyObject_Repr(value);  /* default=repr */
    if (text == NULL) { PyErr_Clear(); return 1; }
    int failed = put_str(line, text);
    Py_DecRef(text);
    return failed;
}

/* emit(fd, kind, begin, end, thread or None, details): 0 written, 1 left to Python, -1 not
 * written (the sink refused it: the caller counts it dropped) */
static PyObject *emit(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6 || threads_active == NULL) return PyLong_FromLong(1);
    long fd = PyLong_AsLong(args[0]);
    if (fd < 0) { PyErr_Clear(); return PyLong_FromLong(1); }
    PyObject *thread = args[4];
    if (thread == &_Py_NoneStruct) {
        PyObject *ident = PyLong_FromUnsignedLong((unsigned long)pthread_self());
        if (ident == NULL) { PyErr_Clear(); return PyLong_FromLong(1); }
        thread = PyDict_GetItem(threads_active, ident);
        Py_DecRef(ident);
        if (thread == NULL) return PyLong_FromLong(1);
    }
    PyObject *own = PyObject_GetAttr(thread, key_dict);
    if (own == NULL) { PyErr_Clear(); return PyLong_FromLong(1); }
    PyObject *name = (flags_of(own) & TPFLAGS_DICT) ? PyDict_GetItem(own, key_name) : NULL;
    PyObject *daemon = (flags_of(own) & TPFLAGS_DICT) ? PyDict_GetItem(own, key_daemonic) : NULL;
    Line line; line.used = 0; line.full = 0;
    int failed = name == NULL || name->ob_type != (void *)&PyUnicode_Type;  /* (a str, exactly) */
    if (!failed) {
        puts_(&line, "{\"pid\":"); put_ll(&line, (long long)getpid());
        puts_(&line, ",\"tid\":"); put_ll(&line, (long long)gettid());
        puts_(&line, ",\"thread\":"); failed = put_str(&line, name);
        puts_(&line, daemon == &_Py_TrueStruct ? ",\"thread_daemon\":true" :
                     daemon == &_Py_FalseStruct ? ",\"thread_daemon\":false" : ",\"thread_daemon\":null");
        puts_(&line, ",\"kind\":"); failed = failed || put_str(&line, args[1]);
        puts_(&line, ",\"begin\":"); failed = failed || put_value(&line, args[2], 0);
        puts_(&line, ",\"end\":"); failed = failed || put_value(&line, args[3], 0);
        PyObject *details = args[5];
        if (!failed && (flags_of(details) & TPFLAGS_DICT)) {
            Py_ssize_t position = 0; PyObject *key, *value;
            while (!failed && PyDict_Next(details, &position, &key, &value)) {
                put(&line, ",", 1);
                failed = !(flags_of(key) & TPFLAGS_UNICODE) || put_str(&line, key);
                put(&line, ":", 1);
                failed = failed || put_value(&line, value, 0);
            }
        } else {
            failed = 1;
        }
        put(&line, "}\n", 2);
    }
    Py_DecRef(own);
    if (failed || line.full) return PyLong_FromLong(1);
    ssize_t written;
    do { written = write((int)fd, line.data, line.used); } while (written < 0 && errno == EINTR);
    return PyLong_FromLong(written == (ssize_t)line.used ? 0 : -1);
}

/* emit_arm(threading._active): the threads' table the identity is read from */
static PyObject *emit_arm(PyObject *self, PyObject *active) {
    (void)self;
    key_dict = PyUnicode_FromString("__dict__");
    key_name = PyUnicode_FromString("_name");
    key_daemonic = PyUnicode_FromString("_daemonic");
    if (key_dict == NULL || key_name == NULL || key_daemonic == NULL) return NULL;
    Py_IncRef(active);
    threads_active = active;
    return none();
}

static PyMethodDef methods[] = {
    {"arm", arm, METH_VARARGS, "arm(hit, 'call', 'return', 'c_call', 'c_exception', 'c_return')"},
    {"hook_code", hook_code, METH_O, "let this code object's calls and returns through"},
    {"unhook_code", unhook_code, METH_O, "no longer let them through"},
    {"hook_c", hook_c, METH_O, "let this C function's calls and returns through"},
    {"set_profile", set_profile, METH_O, "set the filter as this thread's profile function"},
    {"audit_hook", audit_hook, METH_VARARGS, "audit_hook(function, names): call function(name, args) for these audit events"},
    {"frame_check", frame_check, METH_O, "frame_check(probe): whether the frame hook can run here (3.11's layouts)"},
    {"frame_hook", frame_hook, METH_VARARGS, "frame_hook(start, return, unwind, call, c_return, c_raise, DISABLE)"},
    {"get_local_events", get_local_events, METH_O, "the frame hook's events local to a code object"},
    {"set_local_events", set_local_events, METH_VARARGS, "set_local_events(code, events)"},
    {"emit", (PyCFunction)(void (*)(void))emit, METH_FASTCALL, "emit(fd, kind, begin, end, thread, details): 0 written, 1 left to Python, -1 refused"},
    {"emit_arm", emit_arm, METH_O, "emit_arm(threading._active)"},
    {NULL, NULL, 0, NULL},
};
static PyModuleDef module = {{{1, NULL}, NULL, 0, NULL}, "_proclife_filter", NULL, -1, methods, NULL, NULL, NULL, NULL};

PyObject *PyInit__proclife_filter(void) { return PyModule_Create2(&module, 3); }
