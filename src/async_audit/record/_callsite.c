/* The call-site walk of async_audit.record.frames, in C: the recorder's main cost per recorded call. Also the
 * common case of the http.client hook, and the writer's encoding of a request's record (see the sections
 * below).
 *
 * Optional. When this module is not built (no C compiler where the package was installed, or a Python it does
 * not support), frames.py walks in Python with the same result. The classification stays in Python: this
 * walk only reads the caches frames.py fills, and calls back into it for a frame it has not seen yet.
 *
 *   configure(modules, codes, module_entry, code_entry, max_stack)
 *       modules:      {id(f_globals): (f_globals, kind, detail)}
 *       codes:        {id(f_code): (f_code, kind, detail, function)}
 *       module_entry: module_entry(code, globals) -> the modules entry for a frame's globals, made and cached
 *       code_entry:   code_entry(code, globals) -> the codes entry for a frame's code, made and cached
 *   clear()
 *       forget the entries this module keeps in front of the dictionaries: call it whenever they change
 *   walk(depth) -> (frames, via)
 *       from the frame ``depth`` levels out from the caller's: frames is a flat tuple (file, line, function,
 *       file, ...) of up to max_stack project frames, innermost first; via the outermost third-party package
 *       met before the first project frame (or None).
 *
 * An entry is held by its dictionary with the object it is keyed by the id() of, so an id found there is that
 * object's. Entries are checked for their shape: anything else is a TypeError for the caller to report, never
 * a crash.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Python 3.11 to 3.13 run a function without a frame object, and make one only when asked for it (as
 * PyFrame_GetBack does for every frame it passes): about 10,000 instructions per walk, for a frame object
 * that then lives until its function returns. These versions' interpreter frames are read directly, through
 * the internal header of the very Python this is compiled for. Other versions walk frame objects: before
 * 3.11 every frame is one already, and after 3.13 the layout is not known to this file. */
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030E0000
#define INTERPRETER_FRAMES 1
#define Py_BUILD_CORE
#include "internal/pycore_frame.h"
#undef Py_BUILD_CORE
typedef _PyInterpreterFrame Frame;
#else
#include <frameobject.h>
typedef PyFrameObject Frame;
#endif

enum { K_PROJECT = 0, K_THIRD = 1, K_SKIP = 2, K_STOP = 3, K_BY_CODE = 4 };
#define MAX_FRAMES 64

static PyObject *modules, *codes, *module_entry, *code_entry;
static Py_ssize_t max_stack = 8;

#ifdef INTERPRETER_FRAMES
/* The first frame from ``frame`` outward that Python shows (PyFrame_GetBack skips the same ones). */
static Frame *
complete(Frame *frame)
{
    while (frame != NULL) {
#if PY_VERSION_HEX >= 0x030C0000
        if (frame->owner == FRAME_OWNED_BY_CSTACK) { /* the C stack's shim between two runs of Python */
            frame = frame->previous;
            continue;
        }
#endif
        if (!_PyFrame_IsIncomplete(frame)) {
            break;
        }
        frame = frame->previous;
    }
    return frame;
}

static Frame *
first_frame(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return complete(PyThreadState_Get()->current_frame);
#else
    return complete(PyThreadState_Get()->cframe->current_frame);
#endif
}

static inline Frame *back(Frame *frame) { return complete(frame->previous); }
static inline void release(Frame *frame) { (void)frame; }
static inline PyObject *frame_globals(Frame *frame) { return frame->f_globals; }

static inline PyObject *
frame_code(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030D0000
    return frame->f_executable;
#else
    return (PyObject *)frame->f_code;
#endif
}

static int
frame_line(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyUnstable_InterpreterFrame_GetLine(frame);
#else
    return PyCode_Addr2Line(frame->f_code, _PyInterpreterFrame_LASTI(frame) * sizeof(_Py_CODEUNIT));
#endif
}

static inline int
frame_lasti(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyUnstable_InterpreterFrame_GetLasti(frame);
#else
    return _PyInterpreterFrame_LASTI(frame);
#endif
}

#else /* frame objects: each one a new reference, released as the walk passes it */

static Frame *
first_frame(void)
{
    Frame *frame = PyEval_GetFrame();
    Py_XINCREF(frame);
    return frame;
}

static inline Frame *
back(Frame *frame)
{
    Frame *previous = PyFrame_GetBack(frame);
    Py_DECREF(frame);
    return previous;
}

static inline void release(Frame *frame) { Py_XDECREF(frame); }

static inline PyObject *
frame_globals(Frame *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *globals = PyFrame_GetGlobals(frame); /* a new reference, kept alive by the frame */
    Py_DECREF(globals);
    return globals;
#else
    return frame->f_globals;
#endif
}

static inline PyObject *
frame_code(Frame *frame)
{
    PyCodeObject *code = PyFrame_GetCode(frame); /* a new reference, kept alive by the frame */
    Py_DECREF(code);
    return (PyObject *)code;
}

static inline int frame_line(Frame *frame) { return PyFrame_GetLineNumber(frame); }
#endif

/* In front of each dictionary, a table keyed by the object's address: a dictionary lookup by id() makes an
 * int and hashes it, ten times the work for the ten-odd frames of a walk. A slot holds a strong reference to
 * its entry, and the entry one to the object, so an address found here is that object's. The tables are
 * emptied by clear() (frames.py calls it whenever it empties or edits its dictionaries) and when they fill. */
#define SLOTS 1024 /* a power of two */
typedef struct {
    void *key;
    PyObject *entry;
} Slot;
typedef struct {
    Slot slots[SLOTS];
    Py_ssize_t used;
} Table;
static Table module_table, code_table;

static void
table_clear(Table *table)
{
    for (Py_ssize_t i = 0; i < SLOTS; i++) {
        if (table->slots[i].entry != NULL) {
            PyObject *entry = table->slots[i].entry;
            table->slots[i].key = NULL;
            table->slots[i].entry = NULL;
            Py_DECREF(entry);
        }
    }
    table->used = 0;
}

static inline Py_ssize_t
slot_of(void *key)
{
    uintptr_t k = (uintptr_t)key;
    return (Py_ssize_t)(((k >> 4) ^ (k >> 14)) & (SLOTS - 1));
}

/* A borrowed reference to the entry for ``key``, or NULL. */
static inline PyObject *
table_get(Table *table, void *key)
{
    for (Py_ssize_t i = slot_of(key);; i = (i + 1) & (SLOTS - 1)) {
        Slot *slot = &table->slots[i];
        if (slot->key == key) {
            return slot->entry;
        }
        if (slot->key == NULL) {
            return NULL;
        }
    }
}

static void
table_put(Table *table, void *key, PyObject *entry)
{
    if (table->used >= SLOTS / 2) {
        table_clear(table);
    }
    for (Py_ssize_t i = slot_of(key);; i = (i + 1) & (SLOTS - 1)) {
        Slot *slot = &table->slots[i];
        if (slot->key == NULL) {
            slot->key = key;
            slot->entry = Py_NewRef(entry);
            table->used++;
            return;
        }
    }
}

/* A project frame's line, by code object and instruction: finding it scans the code's line table from its
 * start, most of a walk's work, and the same few lines make the calls request after request. A slot holds
 * strong references to the code object and the line. Interpreter frames only: a frame object knows its line. */
typedef struct {
    PyObject *code;
    int lasti;
    PyObject *line;
} LineSlot;
static LineSlot line_slots[SLOTS];
static Py_ssize_t lines_used;

static void
lines_clear(void)
{
    for (Py_ssize_t i = 0; i < SLOTS; i++) {
        PyObject *code = line_slots[i].code, *line = line_slots[i].line;
        line_slots[i].code = NULL;
        line_slots[i].line = NULL;
        Py_XDECREF(code);
        Py_XDECREF(line);
    }
    lines_used = 0;
}

/* The line ``frame`` (running ``code``) is at, as an int or None (a new reference); NULL on error. */
static PyObject *
line_of(Frame *frame, PyObject *code)
{
#ifdef INTERPRETER_FRAMES
    int lasti = frame_lasti(frame);
    uintptr_t start = ((uintptr_t)slot_of(code) + (uintptr_t)lasti * 40503u) & (SLOTS - 1);
    for (uintptr_t i = start;; i = (i + 1) & (SLOTS - 1)) {
        LineSlot *slot = &line_slots[i];
        if (slot->code == code && slot->lasti == lasti) {
            return Py_NewRef(slot->line);
        }
        if (slot->code == NULL) {
            break;
        }
    }
#endif
    int line = frame_line(frame);
    PyObject *line_obj = line < 0 ? Py_NewRef(Py_None) : PyLong_FromLong(line);
#ifdef INTERPRETER_FRAMES
    if (line_obj == NULL) {
        return NULL;
    }
    if (lines_used >= SLOTS / 2) {
        lines_clear();
    }
    for (uintptr_t i = start;; i = (i + 1) & (SLOTS - 1)) {
        LineSlot *slot = &line_slots[i];
        if (slot->code == NULL) {
            slot->code = Py_NewRef(code);
            slot->lasti = lasti;
            slot->line = Py_NewRef(line_obj);
            lines_used++;
            break;
        }
    }
#endif
    return line_obj;
}

/* The entry for ``object`` (a new reference): from ``table``, else from the dictionary ``cache`` (keyed by
 * id()), else made by ``make(code, globals)``; NULL on error. An entry is checked for its shape before it is
 * used or kept: a wrong one is a TypeError, never a crash. */
static PyObject *
entry_for(Table *table, PyObject *cache, PyObject *object, PyObject *make, PyObject *code, PyObject *globals,
          Py_ssize_t size)
{
    PyObject *entry = table_get(table, object);
    if (entry != NULL) {
        return Py_NewRef(entry);
    }
    PyObject *key = PyLong_FromVoidPtr(object);
    if (key == NULL) {
        return NULL;
    }
    entry = PyDict_GetItemWithError(cache, key);
    Py_DECREF(key);
    if (entry != NULL) {
        Py_INCREF(entry);
    }
    else if (PyErr_Occurred()) {
        return NULL;
    }
    else {
        entry = PyObject_CallFunctionObjArgs(make, code, globals, NULL);
        if (entry == NULL) {
            return NULL;
        }
    }
    if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != size
        || PyTuple_GET_ITEM(entry, 0) != object || !PyLong_CheckExact(PyTuple_GET_ITEM(entry, 1))) {
        Py_DECREF(entry);
        PyErr_SetString(PyExc_TypeError, "async_audit._callsite: a cache entry of the wrong shape");
        return NULL;
    }
    table_put(table, object, entry);
    return entry;
}

static PyObject *
clear(PyObject *self, PyObject *unused)
{
    table_clear(&module_table);
    table_clear(&code_table);
    lines_clear();
    Py_RETURN_NONE;
}

static PyObject *
configure(PyObject *self, PyObject *args)
{
    PyObject *m, *c, *me, *ce;
    Py_ssize_t ms;
    if (!PyArg_ParseTuple(args, "O!O!OOn:configure", &PyDict_Type, &m, &PyDict_Type, &c, &me, &ce, &ms)) {
        return NULL;
    }
    if (ms < 1 || ms > MAX_FRAMES) {
        PyErr_SetString(PyExc_ValueError, "max_stack out of range");
        return NULL;
    }
    Py_INCREF(m);
    Py_INCREF(c);
    Py_INCREF(me);
    Py_INCREF(ce);
    Py_XSETREF(modules, m);
    Py_XSETREF(codes, c);
    Py_XSETREF(module_entry, me);
    Py_XSETREF(code_entry, ce);
    max_stack = ms;
    table_clear(&module_table);
    table_clear(&code_table);
    lines_clear();
    Py_RETURN_NONE;
}

/* (frames, via) from the frame ``depth`` levels out from the innermost Python frame (the caller's of the C
 * function running); walk() and http_begin(). */
static PyObject *
walk_from(Py_ssize_t depth)
{
    PyObject *items[MAX_FRAMES * 3];
    Py_ssize_t n = 0;
    PyObject *via = Py_None;
    Py_INCREF(via);
    PyObject *result = NULL;

    Frame *frame = first_frame(); /* the caller's: a function written in C has no frame of its own */
    for (Py_ssize_t i = 0; i < depth && frame != NULL; i++) {
        frame = back(frame);
    }
    while (frame != NULL) {
        PyObject *globals = frame_globals(frame);
        PyObject *code = frame_code(frame);
        PyObject *entry = entry_for(&module_table, modules, globals, module_entry, code, globals, 3);
        if (entry == NULL) {
            goto error;
        }
        long kind = PyLong_AsLong(PyTuple_GET_ITEM(entry, 1));
        if (kind == K_BY_CODE) {
            PyObject *centry = entry_for(&code_table, codes, code, code_entry, code, globals, 4);
            if (centry == NULL) {
                Py_DECREF(entry);
                goto error;
            }
            kind = PyLong_AsLong(PyTuple_GET_ITEM(centry, 1));
            if (kind == K_PROJECT) {
                PyObject *line_obj = line_of(frame, code);
                if (line_obj == NULL) {
                    Py_DECREF(centry);
                    Py_DECREF(entry);
                    goto error;
                }
                items[n++] = Py_NewRef(PyTuple_GET_ITEM(centry, 2));
                items[n++] = line_obj;
                items[n++] = Py_NewRef(PyTuple_GET_ITEM(centry, 3));
            }
            else if (kind == K_THIRD && n == 0) {
                Py_SETREF(via, Py_NewRef(PyTuple_GET_ITEM(centry, 2)));
            }
            Py_DECREF(centry);
            if (kind == K_STOP || n >= max_stack * 3) {
                Py_DECREF(entry);
                break;
            }
        }
        else if (kind == K_THIRD && n == 0) {
            Py_SETREF(via, Py_NewRef(PyTuple_GET_ITEM(entry, 2)));
        }
        Py_DECREF(entry);
        frame = back(frame);
    }
    PyObject *stack = PyTuple_New(n);
    if (stack == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(stack, i, items[i]); /* steals */
    }
    n = 0;
    result = PyTuple_Pack(2, stack, via);
    Py_DECREF(stack);
error:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_DECREF(items[i]);
    }
    release(frame);
    Py_DECREF(via);
    return result;
}

/* 0 when a function was called with ``want`` arguments after its configure function ran; else -1 with the
 * error set. ``usage``: the function's signature, for the message. */
static int
check_call(Py_ssize_t nargs, Py_ssize_t want, const void *configured, const char *usage, const char *configure)
{
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s", usage);
        return -1;
    }
    if (configured == NULL) {
        PyErr_Format(PyExc_RuntimeError, "%s: %s() first", usage, configure);
        return -1;
    }
    return 0;
}

static PyObject *
walk(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_call(nargs, 1, modules, "walk(depth: int)", "configure") < 0) {
        return NULL;
    }
    if (!PyLong_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "walk(depth: int)");
        return NULL;
    }
    Py_ssize_t depth = PyLong_AsSsize_t(args[0]);
    if (depth == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return walk_from(depth);
}

/* ---- The http.client hook's common case (async_audit.record.hooks.http_client) -------------------------
 *
 *   configure_http(trace_type, call_type, flight_type, open_call, trace_globals, walk, hosts, masked,
 *                  cleaned_host, masked_path, clock, for_request, end, status_code, in_atomic_block,
 *                  thread_local, connections)
 *   http_begin(trace, conn, method, url) -> the _InFlight of the request putrequest() starts
 *   http_end(in_flight, exc, status, timeout)
 *
 * What _for_request() and _end() do in Python, for the case nearly every request is: a str method and a
 * relative str URL on a connection with nothing in flight and no tunnel; an int port; a call made where
 * trace.call_site_at is still this module's walk. Anything else is handed to the Python functions, which
 * give the same result. The objects are made and filled here without running their __init__: the slots of
 * Trace, Call and _InFlight are read and written at the offsets their member descriptors give, checked to be
 * object slots when configured, on objects of exactly those classes. With it (and the getresponse wrapper's
 * changes made beside it) a recorded requests.get adds 15,300 instructions to the request thread, against
 * 30,600 through the Python path (benchmarks/README, session 6).
 */
#ifndef Py_T_OBJECT_EX
#include "structmember.h"
#define Py_T_OBJECT_EX T_OBJECT_EX
#endif
#if PY_VERSION_HEX < 0x030D0000
#define PyObject_GetOptionalAttr _PyObject_LookupAttr
#endif

static PyObject *trace_type, *call_type, *flight_type, *open_call, *trace_globals, *walk_function, *hosts,
    *masked, *cleaned_host, *masked_path, *perf_clock, *for_request, *python_end, *status_code, *atomic_function,
    *thread_local, *connections;
static PyObject *s_http, *s_lib, *s_method, *s_host, *s_port, *s_path, *s_status, *s_timeout, *s_scheme_sep,
    *s_tunnel_host, *s_call_site_at, *s_in_atomic_block, *s_empty, *s_conns, *s_connections_storage,
    *s_settings, *one;

enum { T_CLOSED, T_HTTP, T_CALLS, T_MAX_CALLS, T_DROPPED, T_START_NS, T_COUNT };
static const char *trace_slots[T_COUNT] = {"closed", "http", "calls", "max_calls", "dropped", "start_ns"};
enum { C_TRACE, C_KIND, C_LIB, C_VIA, C_T_NS, C_START_NS, C_END_NS, C_PARENT, C_ATOMIC, C_FRAMES, C_ERROR,
       C_FIELDS, C_TOKEN, C_COUNT };
static const char *call_slots[C_COUNT] = {"trace", "kind", "lib", "via", "t_ns", "start_ns", "end_ns",
                                          "parent", "atomic", "frames", "error", "fields", "token"};
enum { F_CONN, F_TABLE, F_CALL, F_SENT, F_CONNECTING, F_DONE, F_COUNT };
static const char *flight_slots[F_COUNT] = {"conn", "table", "call", "sent", "connecting", "done"};
static Py_ssize_t trace_at[T_COUNT], call_at[C_COUNT], flight_at[F_COUNT];

#define SLOT(object, offset) (*(PyObject **)((char *)(object) + (offset)))

/* Set a slot, taking a new reference to ``value``. */
static inline void
set_slot(PyObject *object, Py_ssize_t offset, PyObject *value)
{
    PyObject *old = SLOT(object, offset);
    SLOT(object, offset) = Py_NewRef(value);
    Py_XDECREF(old);
}

static int
slot_offsets(PyObject *type, const char **names, Py_ssize_t *offsets, Py_ssize_t count)
{
    if (!PyType_Check(type)) {
        PyErr_SetString(PyExc_TypeError, "configure_http: a class was expected");
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *descr = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, names[i]);
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)
            || ((PyMemberDescrObject *)descr)->d_member->type != Py_T_OBJECT_EX
            || ((PyMemberDescrObject *)descr)->d_member->offset <= 0) {
            PyErr_Format(PyExc_TypeError, "configure_http: %s.%s is not an object slot",
                         ((PyTypeObject *)type)->tp_name, names[i]);
            return -1;
        }
        offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
    }
    return 0;
}

static PyObject *
configure_http(PyObject *self, PyObject *args)
{
    PyObject *o[17];
    if (!PyArg_ParseTuple(args, "OOOOO!OO!O!OOOOOOOOO:configure_http", &o[0], &o[1], &o[2], &o[3], &PyDict_Type,
                          &o[4], &o[5], &PyDict_Type, &o[6], &PyDict_Type, &o[7], &o[8], &o[9], &o[10], &o[11],
                          &o[12], &o[13], &o[14], &o[15], &o[16])) {
        return NULL;
    }
    if (slot_offsets(o[0], trace_slots, trace_at, T_COUNT) < 0
        || slot_offsets(o[1], call_slots, call_at, C_COUNT) < 0
        || slot_offsets(o[2], flight_slots, flight_at, F_COUNT) < 0) {
        return NULL;
    }
    if (!PyContextVar_CheckExact(o[3])) {
        PyErr_SetString(PyExc_TypeError, "configure_http: open_call must be a ContextVar");
        return NULL;
    }
    if (s_http == NULL) {
        const char *texts[] = {"http", "http.client", "method", "host", "port", "path", "status", "timeout",
                               "://", "_tunnel_host", "call_site_at", "in_atomic_block", "", "conns",
                               "_connections", "settings"};
        PyObject **strings[] = {&s_http, &s_lib, &s_method, &s_host, &s_port, &s_path, &s_status,
                                &s_timeout, &s_scheme_sep, &s_tunnel_host, &s_call_site_at,
                                &s_in_atomic_block, &s_empty, &s_conns, &s_connections_storage,
                                &s_settings};
        for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
            *strings[i] = PyUnicode_InternFromString(texts[i]);
            if (*strings[i] == NULL) {
                return NULL;
            }
        }
        one = PyLong_FromLong(1);
        if (one == NULL) {
            return NULL;
        }
    }
    PyObject **targets[] = {&trace_type, &call_type, &flight_type, &open_call, &trace_globals,
                            &walk_function, &hosts, &masked, &cleaned_host, &masked_path, &perf_clock,
                            &for_request, &python_end, &status_code, &atomic_function, &thread_local,
                            &connections};
    for (int i = 0; i < 17; i++) {
        Py_XSETREF(*targets[i], Py_NewRef(o[i]));
    }
    Py_RETURN_NONE;
}

/* True for a non-empty str of ASCII capitals only: a method upper() would give back equal. */
static int
is_upper_ascii(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0 || !PyUnicode_IS_ASCII(text)) {
        return 0;
    }
    const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (chars[i] < 'A' || chars[i] > 'Z') {
            return 0;
        }
    }
    return 1;
}

/* ``cache[key]`` (a new reference), else ``make(argument)``. */
static PyObject *
cached(PyObject *cache, PyObject *key, PyObject *make, PyObject *argument)
{
    PyObject *value = PyDict_GetItemWithError(cache, key);
    if (value != NULL) {
        return Py_NewRef(value);
    }
    if (PyErr_Occurred()) {
        return NULL;
    }
    return PyObject_CallOneArg(make, argument);
}

/* trace.in_atomic_block(): its common case (this thread's connection objects kept in ``thread_local.conns``
 * and still current) read here, anything else by calling it; and whatever a test put in its place. */
static PyObject *
in_atomic(void)
{
    PyObject *function = PyDict_GetItemWithError(trace_globals, s_in_atomic_block);
    if (function != atomic_function) {
        if (function == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_RuntimeError, "async_audit._callsite: no in_atomic_block");
            }
            return NULL;
        }
        return PyObject_CallNoArgs(function);
    }
    PyObject *kept = NULL, *storage = NULL, *aliases = NULL, *result = NULL;
    if (PyObject_GetOptionalAttr(thread_local, s_conns, &kept) < 0) {
        return NULL;
    }
    if (kept == NULL || !PyTuple_CheckExact(kept) || PyTuple_GET_SIZE(kept) != 3
        || !PyTuple_CheckExact(PyTuple_GET_ITEM(kept, 2))) {
        goto python;
    }
    if (PyObject_GetOptionalAttr(connections, s_connections_storage, &storage) < 0) {
        goto done;
    }
    if (storage != PyTuple_GET_ITEM(kept, 0)) {
        goto python;
    }
    aliases = PyObject_GetAttr(connections, s_settings);
    if (aliases == NULL) {
        goto done;
    }
    if (aliases != PyTuple_GET_ITEM(kept, 1)) {
        goto python;
    }
    PyObject *conns = PyTuple_GET_ITEM(kept, 2);
    result = Py_NewRef(Py_False);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(conns); i++) {
        PyObject *flag = PyObject_GetAttr(PyTuple_GET_ITEM(conns, i), s_in_atomic_block);
        int set = flag == NULL ? -1 : PyObject_IsTrue(flag);
        Py_XDECREF(flag);
        if (set != 0) {
            Py_SETREF(result, set < 0 ? NULL : Py_NewRef(Py_True));
            break;
        }
    }
    goto done;
python:
    result = PyObject_CallNoArgs(function);
done:
    Py_XDECREF(kept);
    Py_XDECREF(storage);
    Py_XDECREF(aliases);
    return result;
}

/* The call for the request, or None when declined (nested in another http call: not counted; past the cap:
 * counted in dropped); NULL on error. */
static PyObject *
new_call(PyObject *trace, PyObject *calls, PyObject *method, PyObject *host, PyObject *port, PyObject *url)
{
    PyObject *parent = NULL;
    if (PyContextVar_Get(open_call, Py_None, &parent) < 0) {
        return NULL;
    }
    PyObject *result = NULL, *cleaned = NULL, *path = NULL, *upper = NULL, *fields = NULL, *site = NULL;
    PyObject *atomic = NULL, *call = NULL, *now = NULL, *t_ns = NULL;
    if (parent != Py_None) {
        Py_ssize_t index = PyLong_AsSsize_t(parent);
        if (index == -1 && PyErr_Occurred()) {
            goto done;
        }
        PyObject *open = PyList_GetItem(calls, index); /* borrowed; IndexError as calls[parent] would */
        if (open == NULL) {
            goto done;
        }
        PyObject *kind = Py_IS_TYPE(open, (PyTypeObject *)call_type) ? SLOT(open, call_at[C_KIND]) : NULL;
        if (kind == NULL) {
            PyErr_SetString(PyExc_TypeError, "async_audit._callsite: an open call that is not a Call");
            goto done;
        }
        int same = kind == s_http ? 1 : PyObject_RichCompareBool(kind, s_http, Py_EQ);
        if (same != 0) {
            result = same < 0 ? NULL : Py_NewRef(Py_None);
            goto done;
        }
    }
    Py_ssize_t cap = PyLong_AsSsize_t(SLOT(trace, trace_at[T_MAX_CALLS]));
    if (cap == -1 && PyErr_Occurred()) {
        goto done;
    }
    if (PyList_GET_SIZE(calls) >= cap) {
        PyObject *dropped = PyNumber_Add(SLOT(trace, trace_at[T_DROPPED]), one);
        if (dropped != NULL) {
            set_slot(trace, trace_at[T_DROPPED], dropped);
            Py_DECREF(dropped);
            result = Py_NewRef(Py_None);
        }
        goto done;
    }
    cleaned = cached(hosts, host, cleaned_host, host);
    if (cleaned == NULL) {
        goto done;
    }
    if (PyUnicode_GET_LENGTH(url) == 0) {
        path = Py_NewRef(s_empty);
    }
    else {
        Py_hash_t hash = PyObject_Hash(url);
        PyObject *key = hash == -1 ? NULL : PyLong_FromSsize_t(hash);
        if (key == NULL) {
            goto done;
        }
        path = cached(masked, key, masked_path, url);
        Py_DECREF(key);
        if (path == NULL) {
            goto done;
        }
    }
    upper = is_upper_ascii(method) ? Py_NewRef(method) : PyObject_CallMethod(method, "upper", NULL);
    if (upper == NULL) {
        goto done;
    }
    fields = PyTuple_Pack(12, s_method, upper, s_host, cleaned, s_port, port, s_path, path, s_status, Py_None,
                          s_timeout, Py_None);
    if (fields == NULL) {
        goto done;
    }
    /* From the putrequest wrapper's caller: the C function runs in the wrapper's frame. */
    site = walk_from(1);
    if (site == NULL) {
        goto done;
    }
    atomic = in_atomic();
    if (atomic == NULL) {
        goto done;
    }
    PyTypeObject *type = (PyTypeObject *)call_type;
    call = type->tp_alloc(type, 0);
    if (call == NULL) {
        goto done;
    }
    PyObject *values[C_COUNT] = {
        trace, s_http, s_lib, PyTuple_GET_ITEM(site, 1), Py_None, Py_None, Py_None, parent, atomic,
        PyTuple_GET_ITEM(site, 0), Py_None, fields, Py_None,
    };
    for (int i = 0; i < C_COUNT; i++) {
        set_slot(call, call_at[i], values[i]);
    }
    /* The clock starts last: the walk is the recorder's cost, not the call's. */
    now = PyObject_CallNoArgs(perf_clock);
    t_ns = now == NULL ? NULL : PyNumber_Subtract(now, SLOT(trace, trace_at[T_START_NS]));
    if (t_ns == NULL) {
        goto done;
    }
    set_slot(call, call_at[C_START_NS], now);
    set_slot(call, call_at[C_T_NS], t_ns);
    if (PyList_Append(calls, call) < 0) {
        goto done;
    }
    result = Py_NewRef(call);
done:
    Py_XDECREF(parent);
    Py_XDECREF(cleaned);
    Py_XDECREF(path);
    Py_XDECREF(upper);
    Py_XDECREF(fields);
    Py_XDECREF(site);
    Py_XDECREF(atomic);
    Py_XDECREF(call);
    Py_XDECREF(now);
    Py_XDECREF(t_ns);
    return result;
}

static PyObject *
http_begin(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_call(nargs, 4, for_request, "http_begin(trace, conn, method, url)", "configure_http") < 0) {
        return NULL;
    }
    PyObject *trace = args[0], *conn = args[1], *method = args[2], *url = args[3];
    PyObject *key = NULL, *tunnel = NULL, *host = NULL, *port = NULL, *call = NULL, *flight = NULL;
    PyObject *table = NULL, *calls = NULL, *result = NULL;
    if (modules == NULL || !Py_IS_TYPE(trace, (PyTypeObject *)trace_type) || !PyUnicode_CheckExact(method)
        || !PyUnicode_CheckExact(url)) {
        goto python;
    }
    /* Someone replaced the walk (a test injecting a fault): theirs is the one to call. */
    PyObject *site_at = PyDict_GetItemWithError(trace_globals, s_call_site_at);
    if (site_at != walk_function) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        goto python;
    }
    table = SLOT(trace, trace_at[T_HTTP]);
    calls = SLOT(trace, trace_at[T_CALLS]);
    if (table == NULL || (table != Py_None && !PyDict_CheckExact(table)) || calls == NULL
        || !PyList_CheckExact(calls) || SLOT(trace, trace_at[T_MAX_CALLS]) == NULL
        || SLOT(trace, trace_at[T_DROPPED]) == NULL || SLOT(trace, trace_at[T_START_NS]) == NULL) {
        table = calls = NULL;
        goto python;
    }
    /* Held: the Python code called below can let another thread of the request run, and the request's end
     * replace both (Trace.close, Trace.packed). */
    Py_INCREF(table);
    Py_INCREF(calls);
    key = PyLong_FromVoidPtr(conn);
    if (key == NULL) {
        goto done;
    }
    if (table != Py_None) {
        int busy = PyDict_Contains(table, key); /* the connection's earlier request, or opened ahead of it */
        if (busy < 0) {
            goto done;
        }
        if (busy) {
            goto python;
        }
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(url);
    Py_ssize_t absolute = PyUnicode_Find(url, s_scheme_sep, 0, n < 12 ? n : 12, 1); /* a forwarding proxy */
    if (absolute == -2) {
        goto done;
    }
    if (absolute >= 0) {
        goto python;
    }
    if (PyObject_GetOptionalAttr(conn, s_tunnel_host, &tunnel) < 0) {
        goto done;
    }
    if (tunnel != NULL && tunnel != Py_None) {
        int set = PyObject_IsTrue(tunnel);
        if (set < 0) {
            goto done;
        }
        if (set) {
            goto python;
        }
    }
    host = PyObject_GetAttr(conn, s_host);
    if (host == NULL) {
        goto done;
    }
    port = PyObject_GetAttr(conn, s_port);
    if (port == NULL) {
        goto done;
    }
    if (!PyUnicode_CheckExact(host) || !PyLong_CheckExact(port)) {
        goto python;
    }
    call = new_call(trace, calls, method, host, port, url);
    if (call == NULL) {
        goto done;
    }
    if (table == Py_None) {
        Py_SETREF(table, PyDict_New());
        if (table == NULL) {
            goto done;
        }
        set_slot(trace, trace_at[T_HTTP], table);
    }
    PyTypeObject *type = (PyTypeObject *)flight_type;
    flight = type->tp_alloc(type, 0);
    if (flight == NULL) {
        goto done;
    }
    PyObject *values[F_COUNT] = {conn, table, call, Py_True, Py_False, Py_False};
    for (int i = 0; i < F_COUNT; i++) {
        set_slot(flight, flight_at[i], values[i]);
    }
    if (PyDict_SetItem(table, key, flight) < 0) {
        goto done;
    }
    result = Py_NewRef(flight);
    goto done;
python:
    result = PyObject_Vectorcall(for_request, args, 4, NULL);
done:
    Py_XDECREF(table);
    Py_XDECREF(calls);
    Py_XDECREF(key);
    Py_XDECREF(tunnel);
    Py_XDECREF(host);
    Py_XDECREF(port);
    Py_XDECREF(call);
    Py_XDECREF(flight);
    return result;
}

static PyObject *
http_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_call(nargs, 4, python_end, "http_end(in_flight, exc, status, timeout)", "configure_http") < 0) {
        return NULL;
    }
    PyObject *now = PyObject_CallNoArgs(perf_clock);
    if (now == NULL) {
        return NULL;
    }
    PyObject *flight = args[0], *exc = args[1], *status = args[2], *timeout = args[3];
    PyObject *result = NULL, *key = NULL, *code = NULL, *fields = NULL;
    PyObject *call = Py_IS_TYPE(flight, (PyTypeObject *)flight_type) ? SLOT(flight, flight_at[F_CALL]) : NULL;
    PyObject *table = call == NULL ? NULL : SLOT(flight, flight_at[F_TABLE]);
    PyObject *conn = call == NULL ? NULL : SLOT(flight, flight_at[F_CONN]);
    PyObject *done = call == NULL ? NULL : SLOT(flight, flight_at[F_DONE]);
    if (exc != Py_None || timeout == Py_False || call == NULL || table == NULL || !PyDict_CheckExact(table)
        || conn == NULL || done == NULL
        || (call != Py_None
            && (!Py_IS_TYPE(call, (PyTypeObject *)call_type) || SLOT(call, call_at[C_TOKEN]) != Py_None
                || SLOT(call, call_at[C_TRACE]) == NULL || SLOT(call, call_at[C_FIELDS]) == NULL
                || !PyTuple_CheckExact(SLOT(call, call_at[C_FIELDS]))))) {
        Py_DECREF(now);
        return PyObject_Vectorcall(python_end, args, 4, NULL);
    }
    key = PyLong_FromVoidPtr(conn);
    if (key == NULL) {
        goto done;
    }
    PyObject *current = PyDict_GetItemWithError(table, key);
    if (current == NULL && PyErr_Occurred()) {
        goto done;
    }
    if (current == flight && PyDict_DelItem(table, key) < 0) {
        goto done;
    }
    if (done == Py_True || call == Py_None) {
        result = Py_NewRef(Py_None);
        goto done;
    }
    set_slot(flight, flight_at[F_DONE], Py_True);
    code = PyLong_CheckExact(status) ? Py_NewRef(status) : PyObject_CallOneArg(status_code, status);
    if (code == NULL) {
        goto done;
    }
    PyObject *trace = SLOT(call, call_at[C_TRACE]);
    PyObject *closed = Py_IS_TYPE(trace, (PyTypeObject *)trace_type) ? SLOT(trace, trace_at[T_CLOSED]) : NULL;
    if (closed == NULL) {
        PyErr_SetString(PyExc_TypeError, "async_audit._callsite: a call's trace is not a Trace");
        goto done;
    }
    if (closed == Py_True) { /* the record may be being built on the writer thread */
        result = Py_NewRef(Py_None);
        goto done;
    }
    PyObject *old = SLOT(call, call_at[C_FIELDS]);
    Py_ssize_t size = PyTuple_GET_SIZE(old);
    fields = PyTuple_New(size + 4);
    if (fields == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < size; i++) {
        PyTuple_SET_ITEM(fields, i, Py_NewRef(PyTuple_GET_ITEM(old, i)));
    }
    PyTuple_SET_ITEM(fields, size, Py_NewRef(s_status));
    PyTuple_SET_ITEM(fields, size + 1, Py_NewRef(code));
    PyTuple_SET_ITEM(fields, size + 2, Py_NewRef(s_timeout));
    PyTuple_SET_ITEM(fields, size + 3, Py_NewRef(timeout));
    set_slot(call, call_at[C_FIELDS], fields);
    set_slot(call, call_at[C_END_NS], now);
    result = Py_NewRef(Py_None);
done:
    Py_DECREF(now);
    Py_XDECREF(key);
    Py_XDECREF(code);
    Py_XDECREF(fields);
    return result;
}

/* ---- A request's JSON line (async_audit.record.trace.encode_request) ----------------------------------
 *
 *   configure_encoder(version, no_queries, requests, counters, calls, call_parts, string, getrandbits,
 *                     python_encode)
 *   encode_request(packed, counts) -> str
 *
 * trace.encode_request's line, written here on the writer thread: the same memo dictionaries (their
 * __missing__ makes an entry in Python), the same string encoder, the same rounding. A record holding
 * anything the Python function does not expect of the recorder's own figures (a number past 2**60, a timing
 * that is not an int, a call that is not an 11-tuple; the wall clock may be any int64) is handed to it
 * whole.
 */
static PyObject *e_version, *e_no_queries, *e_requests, *e_counters, *e_calls, *e_call_parts, *e_string,
    *e_getrandbits, *e_python, *e_sixty_four, *e_empty, *e_comma, *e_unfinished;

static PyObject *
configure_encoder(PyObject *self, PyObject *args)
{
    PyObject *o[9];
    if (!PyArg_ParseTuple(args, "UUOOOOOOO:configure_encoder", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6],
                          &o[7], &o[8])) {
        return NULL;
    }
    if (e_sixty_four == NULL) {
        e_sixty_four = PyLong_FromLong(64);
        e_empty = PyUnicode_InternFromString("");
        e_comma = PyUnicode_InternFromString(",");
        e_unfinished = PyUnicode_InternFromString("Unfinished");
        if (e_sixty_four == NULL || e_empty == NULL || e_comma == NULL || e_unfinished == NULL) {
            return NULL;
        }
    }
    PyObject **targets[] = {&e_version, &e_no_queries, &e_requests, &e_counters, &e_calls, &e_call_parts,
                            &e_string, &e_getrandbits, &e_python};
    for (int i = 0; i < 9; i++) {
        Py_XSETREF(*targets[i], Py_NewRef(o[i]));
    }
    Py_RETURN_NONE;
}

#define E_LIMIT ((long long)1 << 60) /* 36 years of nanoseconds: sums of three cannot overflow */

/* An int the recorder wrote (a clock reading, a count) as a C number within ``limit``; 0 for anything else
 * (no error set). */
static int
int_within(PyObject *value, long long *out, long long limit)
{
    if (!PyLong_CheckExact(value)) {
        return 0;
    }
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (overflow || (n == -1 && PyErr_Occurred()) || n >= limit || n <= -limit) {
        PyErr_Clear();
        return 0;
    }
    *out = n;
    return 1;
}

static inline int
small_int(PyObject *value, long long *out)
{
    return int_within(value, out, E_LIMIT);
}

/* ``value`` in decimal, at least ``width`` digits (zeros in front), into ``out``; returns the length.
 * snprintf took 800 instructions a number. */
static int
put_decimal(char *out, unsigned long long value, int width)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n < width) {
        digits[n++] = '0';
    }
    for (int i = 0; i < n; i++) {
        out[i] = digits[n - 1 - i];
    }
    return n;
}

/* trace._millis(ns) into ``out``: milliseconds to three decimals, half a microsecond rounded away from zero;
 * returns the length (at most 24). */
static int
millis(char *out, long long ns)
{
    int n = 0;
    if (ns < 0) {
        out[n++] = '-';
        ns = -ns;
    }
    unsigned long long micros = ((unsigned long long)ns + 500) / 1000;
    n += put_decimal(out + n, micros / 1000, 1);
    out[n++] = '.';
    return n + put_decimal(out + n, micros % 1000, 3);
}

/* ``text`` (no terminating zero) into ``out``; returns its length. */
static inline int
put_text(char *out, const char *text)
{
    int n = 0;
    while (text[n] != '\0') {
        out[n] = text[n];
        n++;
    }
    return n;
}

/* Append an ASCII text to ``pieces``. */
static int
add_text(PyObject *pieces, const char *text, Py_ssize_t size)
{
    PyObject *piece = PyUnicode_FromStringAndSize(text, size);
    if (piece == NULL) {
        return -1;
    }
    int status = PyList_Append(pieces, piece);
    Py_DECREF(piece);
    return status;
}

static int
add_object(PyObject *pieces, PyObject *piece)
{
    if (!PyUnicode_Check(piece)) {
        PyErr_SetString(PyExc_TypeError, "async_audit._callsite: a memoised piece that is not a str");
        return -1;
    }
    return PyList_Append(pieces, piece);
}

/* ``memo[key]`` (a new reference): the memo's __missing__ makes what it lacks. */
static PyObject *
memo_get(PyObject *memo, PyObject *key)
{
    return key == NULL ? NULL : PyObject_GetItem(memo, key);
}

/* One call's JSON into ``pieces``; 0 when it is not what the recorder makes (the caller hands the record to
 * Python), -1 on error. */
static int
add_call(PyObject *pieces, PyObject *call, long long request_start, long long close_ns)
{
    if (!PyTuple_CheckExact(call) || PyTuple_GET_SIZE(call) != 11) {
        return 0;
    }
    PyObject **f = ((PyTupleObject *)call)->ob_item;
    /* kind, lib, via, t_ns, start, end, parent, atomic, frames, error, fields */
    long long t_ns, start = 0, end = 0, ms_ns;
    if (!small_int(f[3], &t_ns)) {
        return 0;
    }
    PyObject *error = f[9];
    if (f[5] == Py_None) {
        ms_ns = close_ns - request_start - t_ns;
        if (error == Py_None || (PyUnicode_Check(error) && PyUnicode_GET_LENGTH(error) == 0)) {
            error = NULL; /* "Unfinished" */
        }
    }
    else {
        if (!small_int(f[4], &start) || !small_int(f[5], &end)) {
            return 0;
        }
        ms_ns = end - start;
    }
    if (error != NULL && error != Py_None && !PyUnicode_Check(error)) {
        return 0; /* ``error or "Unfinished"`` of something else: Python's to judge */
    }
    PyObject *key = PyTuple_Pack(8, f[0], f[1], f[2], f[6], f[7], f[8], error == NULL ? e_unfinished : error,
                                 f[10]);
    if (key == NULL) {
        return -1;
    }
    PyObject *parts = PyObject_GetItem(e_calls, key);
    if (parts == NULL && PyErr_ExceptionMatches(PyExc_TypeError)) {
        PyErr_Clear(); /* unhashable: encoded afresh */
        parts = PyObject_CallOneArg(e_call_parts, key);
    }
    Py_DECREF(key);
    if (parts == NULL) {
        return -1;
    }
    if (!PyTuple_CheckExact(parts) || PyTuple_GET_SIZE(parts) != 2) {
        Py_DECREF(parts);
        PyErr_SetString(PyExc_TypeError, "async_audit._callsite: a call's parts are not (head, tail)");
        return -1;
    }
    char buffer[128];
    int n = put_text(buffer, "\"t\":");
    n += millis(buffer + n, t_ns);
    n += put_text(buffer + n, ",\"ms\":");
    n += millis(buffer + n, ms_ns);
    buffer[n++] = ',';
    int status = add_object(pieces, PyTuple_GET_ITEM(parts, 0)) < 0 || add_text(pieces, buffer, n) < 0
                         || add_object(pieces, PyTuple_GET_ITEM(parts, 1)) < 0
                     ? -1
                     : 1;
    Py_DECREF(parts);
    return status;
}

static PyObject *
encode_request(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (check_call(nargs, 2, e_python, "encode_request(packed, counts)", "configure_encoder") < 0) {
        return NULL;
    }
    PyObject *packed = args[0], *counts = args[1];
    if (!PyTuple_CheckExact(packed) || PyTuple_GET_SIZE(packed) < 17) {
        return PyObject_Vectorcall(e_python, args, 2, NULL);
    }
    PyObject **p = ((PyTupleObject *)packed)->ob_item;
    /* _, id, ts_ns, start, end, cpu_start, cpu_end, host, pid, proto, method, route, view, status, db_n,
     * db_ns, dropped, calls... */
    long long ts_ns, start, end, cpu_start = 0, cpu_end = 0, db_n, db_ns;
    int cpu = p[5] != Py_None && p[6] != Py_None;
    if (!int_within(p[2], &ts_ns, LLONG_MAX) || ts_ns < 0 || !small_int(p[3], &start) || !small_int(p[4], &end)
        || (cpu && (!small_int(p[5], &cpu_start) || !small_int(p[6], &cpu_end))) || !small_int(p[14], &db_n)
        || !small_int(p[15], &db_ns)) {
        return PyObject_Vectorcall(e_python, args, 2, NULL);
    }
    PyObject *pieces = PyList_New(0), *id_json = NULL, *where = NULL, *counted = NULL, *key = NULL;
    PyObject *result = NULL;
    if (pieces == NULL) {
        return NULL;
    }
    char buffer[192];
    int n;
    if (p[1] == Py_None) { /* drawn here: sixteen hex digits */
        PyObject *bits = PyObject_CallOneArg(e_getrandbits, e_sixty_four);
        if (bits == NULL) {
            goto done;
        }
        unsigned long long value = PyLong_AsUnsignedLongLong(bits);
        Py_DECREF(bits);
        if (value == (unsigned long long)-1 && PyErr_Occurred()) {
            goto done;
        }
        static const char hex[] = "0123456789abcdef";
        buffer[0] = buffer[17] = '"';
        for (int i = 16; i >= 1; i--, value >>= 4) {
            buffer[i] = hex[value & 15];
        }
        id_json = PyUnicode_FromStringAndSize(buffer, 18);
    }
    else {
        id_json = PyObject_CallOneArg(e_string, p[1]);
    }
    if (id_json == NULL || add_object(pieces, e_version) < 0 || add_object(pieces, id_json) < 0) {
        goto done;
    }
    n = put_text(buffer, ",\"ts\":");
    n += put_decimal(buffer + n, (unsigned long long)(ts_ns / 1000 / 1000000), 1);
    buffer[n++] = '.';
    n += put_decimal(buffer + n, (unsigned long long)(ts_ns / 1000 % 1000000), 6);
    buffer[n++] = ',';
    if (add_text(pieces, buffer, n) < 0) {
        goto done;
    }
    key = PyTuple_Pack(7, p[7], p[8], p[9], p[10], p[11], p[12], p[13]);
    where = memo_get(e_requests, key);
    Py_CLEAR(key);
    if (where == NULL || add_object(pieces, where) < 0) {
        goto done;
    }
    n = put_text(buffer, "\"ms\":");
    n += millis(buffer + n, end - start);
    n += put_text(buffer + n, ",\"cpu_ms\":");
    n += cpu ? millis(buffer + n, cpu_end - cpu_start) : put_text(buffer + n, "null");
    n += put_text(buffer + n, ",\"db\":");
    if (add_text(pieces, buffer, n) < 0) {
        goto done;
    }
    if (db_n == 0 && db_ns == 0) {
        if (add_object(pieces, e_no_queries) < 0) {
            goto done;
        }
    }
    else {
        n = put_text(buffer, "{\"n\":");
        if (db_n < 0) {
            buffer[n++] = '-';
        }
        n += put_decimal(buffer + n, (unsigned long long)(db_n < 0 ? -db_n : db_n), 1);
        n += put_text(buffer + n, ",\"ms\":");
        n += millis(buffer + n, db_ns);
        buffer[n++] = '}';
        if (add_text(pieces, buffer, n) < 0) {
            goto done;
        }
    }
    key = PyTuple_Pack(2, p[16], counts);
    counted = memo_get(e_counters, key);
    Py_CLEAR(key);
    if (add_text(pieces, ",", 1) < 0 || counted == NULL || add_object(pieces, counted) < 0) {
        goto done;
    }
    for (Py_ssize_t i = 17; i < PyTuple_GET_SIZE(packed); i++) {
        if (i > 17 && add_object(pieces, e_comma) < 0) {
            goto done;
        }
        int status = add_call(pieces, p[i], start, end);
        if (status < 0) {
            goto done;
        }
        if (status == 0) {
            Py_SETREF(pieces, NULL);
            result = PyObject_Vectorcall(e_python, args, 2, NULL);
            goto done;
        }
    }
    if (add_text(pieces, "]}", 2) < 0) {
        goto done;
    }
    result = PyUnicode_Join(e_empty, pieces);
done:
    Py_XDECREF(pieces);
    Py_XDECREF(id_json);
    Py_XDECREF(where);
    Py_XDECREF(counted);
    Py_XDECREF(key);
    return result;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS, "Set the caches and callbacks the walk reads."},
    {"clear", clear, METH_NOARGS, "Forget every entry: call it whenever the caches are emptied or edited."},
    {"walk", (PyCFunction)(void (*)(void))walk, METH_FASTCALL, "(frames, via) from the frame depth levels out."},
    {"configure_http", configure_http, METH_VARARGS, "Set what http_begin and http_end read and fall back on."},
    {"http_begin", (PyCFunction)(void (*)(void))http_begin, METH_FASTCALL, "_for_request's common case."},
    {"http_end", (PyCFunction)(void (*)(void))http_end, METH_FASTCALL, "_end's common case."},
    {"configure_encoder", configure_encoder, METH_VARARGS, "Set what encode_request reads and falls back on."},
    {"encode_request", (PyCFunction)(void (*)(void))encode_request, METH_FASTCALL, "A request's JSON line."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "async_audit.record._callsite", "The call-site walk, in C.", -1, methods,
};

PyMODINIT_FUNC
PyInit__callsite(void)
{
    return PyModule_Create(&module);
}
