// @ts-check
/**
 * TypeDoc plugin (loaded by typedoc.json) that refines the `notDocumented` validation where a
 * separate comment would only repeat one that is already on the page:
 *
 * 1. A setter whose getter is documented (TypeDoc checks the set signature on its own).
 * 2. A member of an anonymous object type (`{ path: string; layer: AttentionLayer }`) whose owner
 *    (the property, function or type alias that has this type) is documented.
 * 3. Any member, at any depth, of the object literal of a documented `const`, such as
 *    `RESNET_CBAM_DEFAULTS.depth`: the page shows each one with its literal value, and each default
 *    is documented on the matching `...Args` / `...Options` field.
 *
 * Everything else an export exposes (classes, functions, interfaces and their fields, methods,
 * accessors, type aliases, variables) must carry TSDoc: with `treatValidationWarningsAsErrors` a
 * missing comment fails `npm run docs`.
 *
 * It also checks that every export has a `@category` tag (it would otherwise land in the default
 * category, "Other"), and files the guides in docs/ under "Guides" (unless their front matter gives a
 * `category`), with a short title (unless it gives a `title`): from TITLES, else their first heading.
 */
import { Application, Converter, ReflectionKind } from 'typedoc';

const GUIDES = 'Guides';

/** Short navigation titles of the guides in docs/ that have no `title` in their front matter. */
const TITLES = {
  'getting-started': 'Getting started',
  'attention-layers': 'Attention layers',
  placement: 'Placement',
  data: 'Data and protocols',
  training: 'Training and evaluation',
  backends: 'Backends and speed',
  'saving-and-loading': 'Saving and loading',
  'attention-maps': 'Attention maps',
};

/** @param {import('typedoc').DocumentReflection} doc */
function firstHeading(doc) {
  const text = doc.content.map((part) => part.text).join('');
  return /^# +(.+?)\s*$/m.exec(text)?.[1]?.replace(/`/g, '');
}

/** @typedef {import('typedoc').Reflection} Reflection */

/** @param {Reflection | undefined} r */
function documented(r) {
  if (!r) return false;
  if (r.hasComment()) return true;
  // Functions and methods keep their comment on the signature.
  const sigs = /** @type {{ signatures?: Reflection[]; getSignature?: Reflection }} */ (r);
  if (sigs.signatures?.some((s) => s.hasComment())) return true;
  if (sigs.getSignature?.hasComment()) return true;
  return r.kindOf(ReflectionKind.SomeSignature) && !!r.parent?.hasComment();
}

/** @param {Reflection} r */
function insideDocumentedConst(r) {
  for (let p = r.parent; p; p = p.parent) {
    if (p.kindOf(ReflectionKind.Variable)) return documented(p);
    if (!p.kindOf(ReflectionKind.TypeLiteral | ReflectionKind.Property)) return false;
  }
  return false;
}

/** @param {Reflection} r */
function ownerOfLiteralDocumented(r) {
  let p = r.parent;
  if (!p?.kindOf(ReflectionKind.TypeLiteral)) return false;
  while (p?.kindOf(ReflectionKind.TypeLiteral)) p = p.parent;
  return documented(p);
}

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_CREATE_DOCUMENT, (_context, doc) => {
    const d = /** @type {import('typedoc').DocumentReflection} */ (doc);
    // Without a front-matter title the name is the file's base name.
    if (Object.hasOwn(TITLES, d.name)) d.name = TITLES[/** @type {keyof TITLES} */ (d.name)];
    else if (d.name === d.name.toLowerCase()) d.name = firstHeading(d) ?? d.name;
    if (!('category' in d.frontmatter)) d.frontmatter.category = GUIDES;
  });

  app.on(Application.EVENT_VALIDATE_PROJECT, (project) => {
    if (!app.options.getValue('validation').notDocumented) return;
    const fallback = app.options.getValue('defaultCategory');
    const known = app.options.getValue('categoryOrder').filter((c) => c !== '*' && c !== GUIDES);
    for (const category of project.categories ?? []) {
      if (category.title !== fallback) continue;
      for (const r of category.children) {
        if (r.isDocument()) continue;
        app.logger.validationWarning(
          `${r.getFriendlyFullName()} has no @category tag (one of ${known.join(', ')})`,
        );
      }
    }
  });

  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    const project = context.project;
    /** @type {string[]} */
    const exempt = [];
    for (const r of project.getReflectionsByKind(ReflectionKind.Accessor)) {
      const a = /** @type {import('typedoc').DeclarationReflection} */ (r);
      if (a.setSignature && !a.setSignature.hasComment() && documented(a)) {
        exempt.push(a.setSignature.getFriendlyFullName());
      }
    }
    const members = ReflectionKind.Property | ReflectionKind.Method | ReflectionKind.Accessor;
    for (const r of project.getReflectionsByKind(members)) {
      if (documented(r)) continue;
      if (insideDocumentedConst(r) || ownerOfLiteralDocumented(r)) {
        exempt.push(r.getFriendlyFullName());
        // Signatures of an exempt method or accessor are checked separately by TypeDoc.
        const d = /** @type {import('typedoc').DeclarationReflection} */ (r);
        for (const s of [...(d.signatures ?? []), d.getSignature, d.setSignature]) {
          if (s) exempt.push(s.getFriendlyFullName());
        }
      }
    }
    const current = app.options.getValue('intentionallyNotDocumented');
    app.options.setValue('intentionallyNotDocumented', [...current, ...exempt]);
  });
}
