import { isCommandError } from './backend';
import type { ErrorCode, Invalid } from './contract';
import { locale, t, tn } from './i18n.svelte';

// What a patient reads when something fails, in English and Spanish. Every
// code of the closed Rust enum has a sentence (the compiler checks each Record
// is complete).
const EN: Record<ErrorCode, string> = {
  notSignedIn: 'You are not signed in. Please sign in again.',
  sessionExpired: 'Your sign-in has ended. Please sign in again to get the latest from your care team.',
  signInFailed: 'Signing in did not work. Please try again.',
  signInTimedOut: 'Signing in took too long. Please try again, and finish signing in in your web browser.',
  keyringUnavailable:
    "CareCycle keeps your sign-in in your computer's secure keyring, and it is not available right now. Unlock your keyring or sign in to your desktop, then try again.",
  offline: 'We could not reach your care team’s system. Check your internet connection and try again.',
  serverError: 'Your care team’s system had a problem. Please try again in a few minutes.',
  notAFhirServer: 'That address does not look like a care organization’s patient system. Please check it.',
  invalidInput: 'Please check what you entered.',
  notFound: 'That is not on this device yet. Update from your care team, then try again.',
  storeUnavailable: 'CareCycle could not open your saved information on this device.',
  locked: 'CareCycle is locked. Enter your passcode to continue.',
  internal: 'Something went wrong in CareCycle. Please try again.',
};

const ES: Record<ErrorCode, string> = {
  notSignedIn: 'No ha iniciado sesión. Vuelva a iniciar sesión.',
  sessionExpired: 'Su sesión terminó. Vuelva a iniciar sesión para recibir lo último de su equipo de atención.',
  signInFailed: 'No se pudo iniciar sesión. Inténtelo de nuevo.',
  signInTimedOut: 'Iniciar sesión tardó demasiado. Inténtelo de nuevo y termine de iniciar sesión en su navegador.',
  keyringUnavailable:
    'CareCycle guarda su sesión en el llavero seguro de su computadora, y ahora no está disponible. Desbloquee el llavero o inicie sesión en su escritorio e inténtelo de nuevo.',
  offline: 'No pudimos comunicarnos con el sistema de su equipo. Revise su conexión a internet e inténtelo de nuevo.',
  serverError: 'El sistema de su equipo tuvo un problema. Inténtelo de nuevo en unos minutos.',
  notAFhirServer: 'Esa dirección no parece el sistema de pacientes de una organización de atención. Revísela.',
  invalidInput: 'Revise lo que escribió.',
  notFound: 'Eso aún no está en este dispositivo. Actualice desde su equipo e inténtelo de nuevo.',
  storeUnavailable: 'CareCycle no pudo abrir su información guardada en este dispositivo.',
  locked: 'CareCycle está bloqueado. Escriba su código para continuar.',
  internal: 'Algo salió mal en CareCycle. Inténtelo de nuevo.',
};

function sentences(): Record<ErrorCode, string> {
  return locale.language === 'es' ? ES : EN;
}

export interface ShownError {
  sentence: string;
  /** The core's own words (English, technical), for whoever helps the patient. */
  detail: string | null;
}

/**
 * What to tell the patient about input the core could not accept, in their
 * language, from the reason and figures the core sent; null for a request the
 * app's screens never make (the generic sentence then stands).
 */
function invalidSentence(why: Invalid): string | null {
  switch (why.reason) {
    case 'lockMinutes':
      return t('invalid.lockMinutes', { min: why.min, max: why.max });
    case 'fileTooLarge':
      return t('invalid.fileTooLarge', {
        size: new Intl.NumberFormat(locale.language, { maximumFractionDigits: 1 }).format(why.tenthsOfMb / 10),
        limit: why.limitMb,
      });
    case 'messageTooLong':
      return t('invalid.messageTooLong', { limit: why.limit });
    case 'unfinished':
      return tn('invalid.unfinished', why.count);
    case 'malformed':
      return null;
    default:
      return t(`invalid.${why.reason}`);
  }
}

/** The sentence for an error from the backend, with the technical detail kept apart. */
export function describeError(error: unknown): ShownError {
  if (isCommandError(error)) {
    const said = error.invalid ? invalidSentence(error.invalid) : null;
    if (said) return { sentence: said, detail: null };
    return { sentence: sentences()[error.code], detail: error.message };
  }
  return { sentence: sentences().internal, detail: error instanceof Error ? error.message : String(error) };
}
